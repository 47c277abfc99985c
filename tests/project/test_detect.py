"""Default-command detection against real project files written into tmp_path."""

from __future__ import annotations

import concurrent.futures
import json
import os
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.project.detect import (
    AGENT_TYPES,
    default_command,
    detect_project_commands,
    make_targets,
)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def table(root: Path) -> dict[str, tuple[str | None, str | None]]:
    found = detect_project_commands(root)
    return {t: (c.command, c.source) for t, c in found.commands.items()}


def test_package_json_scripts_with_npm(tmp_path: Path) -> None:
    scripts = {"dev": "vite", "start": "node .", "test": "vitest", "build": "tsc", "lint": "eslint"}
    write(tmp_path, {"package.json": json.dumps({"scripts": scripts})})
    assert table(tmp_path) == {
        "dev": ("npm run dev", "package.json scripts.dev"),
        "test": ("npm run test", "package.json scripts.test"),
        "repl": (None, None),
        "build": ("npm run build", "package.json scripts.build"),
        "lint": ("npm run lint", "package.json scripts.lint"),
        "custom": (None, None),
    }
    found = detect_project_commands(tmp_path)
    assert found.commands["repl"].reason == "package.json has no convention for repl"
    assert "no default command" in (found.commands["custom"].reason or "")


@pytest.mark.parametrize(
    ("files", "manager"),
    [
        ({"pnpm-lock.yaml": ""}, "pnpm"),
        ({"yarn.lock": ""}, "yarn"),
        ({"bun.lockb": b"\x00bun"}, "bun"),
        ({"package-lock.json": "{}"}, "npm"),
        ({}, "npm"),
    ],
)
def test_lockfile_picks_the_package_manager(
    tmp_path: Path, files: dict[str, str | bytes], manager: str
) -> None:
    write(tmp_path, {"package.json": json.dumps({"scripts": {"start": "node ."}}), **files})
    dev = default_command(tmp_path, "dev")
    assert (dev.command, dev.source) == (f"{manager} run start", "package.json scripts.start")


def test_package_manager_field_wins_over_lockfile(tmp_path: Path) -> None:
    data = {"packageManager": "pnpm@9.1.0", "scripts": {"test": "jest"}}
    write(tmp_path, {"package.json": json.dumps(data), "yarn.lock": ""})
    assert default_command(tmp_path, "test").command == "pnpm run test"


def test_npm_init_placeholder_test_script_is_not_a_command(tmp_path: Path) -> None:
    placeholder = 'echo "Error: no test specified" && exit 1'
    write(tmp_path, {"package.json": json.dumps({"scripts": {"test": placeholder}})})
    test = default_command(tmp_path, "test")
    assert test.command is None
    assert test.reason == "package.json scripts.test is npm init's placeholder"


def test_makefile_targets_win_over_language_sources(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Makefile": (
                ".PHONY: test lint run\n"
                "VERSION := 1.0\n"
                "CC ::= gcc\n"
                "test lint: deps\n\tpytest -q\n"
                "run:\n\tpython -m app\n"
                "%.o: %.c\n\t$(CC) -c $<\n"
                "deps:: ; pip install -e .\n"
            ),
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n[tool.ruff]\n',
        },
    )
    assert table(tmp_path) == {
        "dev": ("make run", "Makefile target run"),
        "test": ("make test", "Makefile target test"),
        "repl": ("python", "pyproject.toml (Python project)"),
        "build": ("python -m build", "pyproject.toml [build-system]"),
        "lint": ("make lint", "Makefile target lint"),
        "custom": (None, None),
    }


def test_make_targets_skip_assignments_patterns_and_special_targets() -> None:
    text = "A = 1\nB := 2\nC ::= 3\nD ?= 4\nall: build\nbuild test::\n.PHONY: all\n%.o: x\n\tx: y\n"
    assert make_targets(text) == ["all", "build", "test"]


def test_makefile_dev_prefers_dev_over_run(tmp_path: Path) -> None:
    write(tmp_path, {"GNUmakefile": "run:\n\t./app\ndev:\n\t./app --watch\n"})
    assert default_command(tmp_path, "dev").command == "make dev"
    assert default_command(tmp_path, "lint").reason == "GNUmakefile has no lint target"


def test_python_project_with_pytest_ini(tmp_path: Path) -> None:
    write(tmp_path, {"pytest.ini": "[pytest]\naddopts = -q\n", "ruff.toml": "line-length = 100\n"})
    assert table(tmp_path) == {
        "dev": (None, None),
        "test": ("pytest", "pytest.ini"),
        "repl": ("python", "pytest.ini (Python project)"),
        "build": (None, None),
        "lint": ("ruff check .", "ruff.toml"),
        "custom": (None, None),
    }
    reasons = detect_project_commands(tmp_path).commands
    assert reasons["dev"].reason == "Python projects have no conventional dev command"
    assert reasons["build"].reason == "Python: pyproject.toml has no [build-system]"


@pytest.mark.parametrize(
    ("files", "source"),
    [
        (
            {"pyproject.toml": "[tool.pytest.ini_options]\n"},
            "pyproject.toml [tool.pytest.ini_options]",
        ),
        ({"setup.cfg": "[metadata]\nname = x\n[tool:pytest]\n"}, "setup.cfg [tool:pytest]"),
        ({"tox.ini": "[tox]\n[pytest]\naddopts = -q\n"}, "tox.ini [pytest]"),
        (
            {"pyproject.toml": '[dependency-groups]\ndev = ["pytest-asyncio>=1"]\n'},
            "pyproject.toml dependencies (pytest)",
        ),
        (
            {"pyproject.toml": '[project]\nname = "x"\n[project.optional-dependencies]\n'
             'test = ["pytest>=8"]\n'},
            "pyproject.toml dependencies (pytest)",
        ),
    ],
)  # fmt: skip
def test_pytest_is_detected_from_each_python_config(
    tmp_path: Path, files: dict[str, str | bytes], source: str
) -> None:
    write(tmp_path, files)
    test = default_command(tmp_path, "test")
    assert (test.command, test.source) == ("pytest", source)


def test_python_without_pytest_or_ruff_says_why(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nname = "x"\ndependencies = "oops"\n'})
    found = detect_project_commands(tmp_path).commands
    assert found["test"].reason == "Python: pytest is neither configured nor a dependency"
    assert found["lint"].reason == "Python: ruff is not configured ([tool.ruff] or ruff.toml)"
    assert found["repl"].command == "python"


def test_cargo_project(tmp_path: Path) -> None:
    write(tmp_path, {"Cargo.toml": '[package]\nname = "x"\n', "src/main.rs": "fn main() {}\n"})
    assert table(tmp_path) == {
        "dev": ("cargo run", "Cargo.toml (binary target)"),
        "test": ("cargo test", "Cargo.toml"),
        "repl": (None, None),
        "build": ("cargo build", "Cargo.toml"),
        "lint": ("cargo clippy", "Cargo.toml"),
        "custom": (None, None),
    }
    assert default_command(tmp_path, "repl").reason == "Rust has no standard REPL"


def test_cargo_library_has_no_dev_command(tmp_path: Path) -> None:
    write(tmp_path, {"Cargo.toml": '[package]\nname = "x"\n', "src/lib.rs": ""})
    dev = default_command(tmp_path, "dev")
    assert dev.command is None
    assert dev.reason == "Cargo.toml has no binary target (src/main.rs or [[bin]])"


def test_go_module(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "go.mod": "module example.com/app\n\ngo 1.22\n",
            "main.go": "// app\npackage main\n\nfunc main() {}\n",
            "main_test.go": "package main_test\n",
        },
    )
    assert table(tmp_path) == {
        "dev": ("go run .", "go.mod (package main in the module root)"),
        "test": ("go test ./...", "go.mod"),
        "repl": (None, None),
        "build": ("go build ./...", "go.mod"),
        "lint": ("go vet ./...", "go.mod"),
        "custom": (None, None),
    }


def test_go_library_has_no_dev_command(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module example.com/lib\n", "lib.go": "package lib\n"})
    assert default_command(tmp_path, "dev").reason == "go.mod: no package main in the module root"


def test_precedence_package_json_before_cargo_go_and_python(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": json.dumps({"scripts": {"test": "jest"}}),
            "Cargo.toml": '[package]\nname = "x"\n',
            "go.mod": "module x\n",
            "pyproject.toml": "[tool.pytest.ini_options]\n",
        },
    )
    assert table(tmp_path)["test"] == ("npm run test", "package.json scripts.test")
    assert table(tmp_path)["build"] == ("cargo build", "Cargo.toml")
    assert table(tmp_path)["repl"] == ("python", "pyproject.toml (Python project)")


def test_malformed_package_json_is_skipped_with_reason(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": '{"scripts": {"test": "jest",}}', "go.mod": "module x\n"})
    found = detect_project_commands(tmp_path)
    assert [s.path for s in found.skipped] == ["package.json"]
    assert found.skipped[0].reason.startswith("invalid JSON: ")
    assert found.commands["test"].command == "go test ./..."
    repl = found.commands["repl"].reason or ""
    assert "Go has no standard REPL" in repl and "package.json skipped (invalid JSON" in repl


def test_malformed_pyproject_is_skipped_but_pytest_ini_still_counts(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "[tool.ruff\nx = ", "pytest.ini": "[pytest]\n"})
    found = detect_project_commands(tmp_path)
    assert [s.path for s in found.skipped] == ["pyproject.toml"]
    assert found.skipped[0].reason.startswith("invalid TOML: ")
    assert found.commands["test"].command == "pytest"
    assert found.commands["lint"].command is None


@pytest.mark.parametrize(
    ("files", "path", "reason"),
    [
        ({"package.json": "[1, 2]"}, "package.json", "top level is not a JSON object"),
        ({"package.json": '{"scripts": 3}'}, "package.json", "'scripts' is not a JSON object"),
        ({"package.json": b"\xff\xfe{}"}, "package.json", "not UTF-8 text"),
        ({"Cargo.toml": "[dependencies]\n"}, "Cargo.toml", "neither [package] nor [workspace]"),
        ({"Cargo.toml": "name = "}, "Cargo.toml", "invalid TOML"),
        ({"go.mod": "go 1.22\n"}, "go.mod", "no 'module' directive"),
        ({"setup.cfg": "no section header\n"}, "setup.cfg", "invalid INI"),
    ],
)
def test_each_malformed_source_is_skipped_not_raised(
    tmp_path: Path, files: dict[str, str | bytes], path: str, reason: str
) -> None:
    write(tmp_path, files)
    found = detect_project_commands(tmp_path)
    assert [s.path for s in found.skipped] == [path]
    assert reason in found.skipped[0].reason
    assert found.commands["test"].command is None


def test_oversized_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": json.dumps({"scripts": {"test": "x" * 200}})})
    found = detect_project_commands(tmp_path, max_file_bytes=100)
    assert found.skipped[0].reason == "larger than 100 bytes"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, {"Makefile": "test:\n\ttrue\n", "go.mod": "module x\n"})
    (tmp_path / "Makefile").chmod(0)
    found = detect_project_commands(tmp_path)
    assert found.skipped[0].path == "Makefile"
    assert found.skipped[0].reason.startswith("unreadable: Permission denied")
    assert found.commands["test"].command == "go test ./..."


def test_empty_directory_explains_what_it_looked_for(tmp_path: Path) -> None:
    found = detect_project_commands(tmp_path)
    assert set(found.commands) == set(AGENT_TYPES)
    assert all(c.command is None for c in found.commands.values())
    assert found.commands["test"].reason == (
        f"no Makefile, package.json, Cargo.toml, go.mod or Python project file in {tmp_path}"
    )
    assert found.to_dict()["commands"]["test"]["command"] is None


def test_bad_root_and_bad_agent_type(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist or is not a directory"):
        detect_project_commands(tmp_path / "missing")
    with pytest.raises(InvalidArgumentError, match="agent_type must be one of dev, test"):
        default_command(tmp_path, "deploy")


def _detect_within(root: Path, seconds: float = 5.0) -> Any:
    """Detection in a thread, bounded: a read that blocks (a FIFO, /dev/zero) fails the
    test instead of hanging the suite."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(detect_project_commands, root).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def test_huge_binary_and_device_files_are_refused_fast_with_the_reason(tmp_path: Path) -> None:
    with (tmp_path / "package.json").open("wb") as f:  # 50 MB, sparse: cheap to make
        f.truncate(50 * 1024 * 1024)
    (tmp_path / "Makefile").symlink_to("/dev/zero")
    (tmp_path / "Cargo.toml").write_bytes(b"[package]\x00\xff\xfe")
    os.mkfifo(tmp_path / "go.mod")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    found = _detect_within(tmp_path)
    reasons = {s.path: s.reason for s in found.skipped}
    assert reasons == {
        "Makefile": "not a regular file (a character device)",
        "package.json": f"larger than {1024 * 1024} bytes",
        "Cargo.toml": "a binary file (it contains NUL bytes)",
        "go.mod": "not a regular file (a FIFO)",
    }
    assert found.commands["test"].command == "pytest"  # the good source still counts
    build = found.commands["build"].reason
    assert (
        build is not None and "Makefile skipped (not a regular file (a character device))" in build
    )
    assert "package.json skipped (larger than" in build
