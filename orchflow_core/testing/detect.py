"""Which test frameworks a directory tree holds, one entry per (framework, root).

Rules (each root is a directory; the walk goes at most ``MAX_DEPTH`` levels below ``cwd``
and skips hidden, vendored and build directories):

- pytest: ``pytest.ini``, ``conftest.py``, ``[tool.pytest.ini_options]`` in pyproject.toml,
  ``[tool:pytest]`` in setup.cfg or ``[pytest]`` in tox.ini. A directory below a pytest root
  is not a root of its own (pytest collects it from the outer one).
- unittest: a Python project (pyproject.toml, setup.py or setup.cfg) that is no pytest root
  and has a ``test*.py`` file importing unittest, at its top or in ``tests/`` or ``test/``.
- jest: a ``jest.config.*`` file, or package.json with a ``jest`` key, a jest dependency or a
  script that runs jest (the project's node_modules/.bin/jest, else jest on PATH).
- vitest: a ``vitest.config.*``/``vitest.workspace.*`` file, or package.json with a vitest
  dependency or a script that runs vitest (node_modules/.bin/vitest, else vitest on PATH).
- cargo: ``Cargo.toml`` (each crate or workspace root found).
- go: ``go.mod`` (every module is a root: ``go test ./...`` stops at nested modules).
- make: a Makefile (GNU make's names) with a ``test`` or else ``check`` target; the targets are
  read by orchflow_core/project/detect.py's ``make_targets``.

Synchronous (reads small files): call through ``asyncio.to_thread`` from the event loop.
"""

from __future__ import annotations

import configparser
import json
import os
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.project.detect import MAKEFILE_NAMES, make_targets

if TYPE_CHECKING:
    from orchflow_core.modules.manifest import TestAdapter

# The built-in frameworks, in the order a tie picks them: the test adapters this module's
# manifest.json contributes (modules may contribute more: orchflow_core/modules/).
FRAMEWORKS: tuple[str, ...] = tuple(
    str(a["framework"])
    for a in json.loads(Path(__file__).with_name("manifest.json").read_text(encoding="utf-8"))[
        "contributes"
    ]["test_adapters"]
)
MAX_DEPTH = 3
MAX_FILE_BYTES = 1024 * 1024
SKIP_DIRS = frozenset(
    {"node_modules", "vendor", "target", "build", "dist", "__pycache__", "venv", "site-packages"}
)


@dataclass(frozen=True, slots=True)
class Detected:
    framework: str
    root: str
    command: str
    source: str  # the file that made it a root

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def python_for(root: Path) -> str:
    """The interpreter of the project's own virtualenv (.venv, venv), else this one."""
    for name in (".venv", "venv"):
        candidate = root / name / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    return sys.executable


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _pytest_marker(d: Path, names: set[str]) -> str | None:
    if "pytest.ini" in names:
        return "pytest.ini"
    if "pyproject.toml" in names:
        text = _read(d / "pyproject.toml")
        if text is not None:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                data = {}
            if isinstance(data.get("tool"), dict) and "pytest" in data["tool"]:
                return "pyproject.toml [tool.pytest.ini_options]"
    for name, section in (("setup.cfg", "tool:pytest"), ("tox.ini", "pytest")):
        if name in names:
            text = _read(d / name)
            if text is not None:
                parser = configparser.ConfigParser(interpolation=None)
                try:
                    parser.read_string(text)
                except configparser.Error:
                    continue
                if parser.has_section(section):
                    return f"{name} [{section}]"
    if "conftest.py" in names:
        return "conftest.py"
    return None


def _unittest_marker(d: Path, names: set[str]) -> str | None:
    if not names & {"pyproject.toml", "setup.py", "setup.cfg"}:
        return None
    for sub in (d, d / "tests", d / "test"):
        try:
            files = sorted(p for p in sub.glob("test*.py") if p.is_file())
        except OSError:
            continue
        for f in files[:20]:
            text = _read(f) or ""
            if "import unittest" in text or "from unittest" in text:
                return str(f.relative_to(d))
    return None


def _jest_marker(d: Path, names: set[str]) -> str | None:
    for n in sorted(names):
        if n.startswith("jest.config."):
            return n
    if "package.json" not in names:
        return None
    text = _read(d / "package.json")
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    deps = {**(data.get("devDependencies") or {}), **(data.get("dependencies") or {})}
    scripts = data.get("scripts") or {}
    if "jest" in data or "jest" in deps or any("jest" in str(v) for v in scripts.values()):
        return "package.json"
    return None


def _vitest_marker(d: Path, names: set[str]) -> str | None:
    for n in sorted(names):
        if n.startswith("vitest.config.") or n.startswith("vitest.workspace."):
            return n
    if "package.json" not in names:
        return None
    try:
        data = json.loads(_read(d / "package.json") or "")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    deps = {**(data.get("devDependencies") or {}), **(data.get("dependencies") or {})}
    scripts = data.get("scripts") or {}
    if "vitest" in deps or any("vitest" in str(v) for v in scripts.values()):
        return "package.json"
    return None


def _make_target(d: Path, names: set[str]) -> tuple[str, str] | None:
    for filename in MAKEFILE_NAMES:
        if filename in names:
            text = _read(d / filename)
            if text is None:
                return None
            targets = make_targets(text)
            for target in ("test", "check"):
                if target in targets:
                    return filename, target
            return None
    return None


def detect_tests(
    cwd: str, max_depth: int = MAX_DEPTH, adapters: Sequence[TestAdapter] = ()
) -> list[Detected]:
    """The suites under ``cwd``; ``adapters`` are test adapters contributed by modules (a
    directory holding one of an adapter's ``detect`` files is a root of its framework)."""
    base = Path(cwd).expanduser()
    if not base.is_dir():
        raise NotFoundError(f"cwd {cwd!r} is not a directory", param="cwd", cwd=cwd)
    found: list[Detected] = []
    pytest_roots: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        try:
            entries = list(os.scandir(d))
        except OSError:
            return
        names = {e.name for e in entries}
        marker = _pytest_marker(d, names)
        if marker and not any(d.is_relative_to(r) for r in pytest_roots):
            pytest_roots.append(d)
            found.append(Detected("pytest", str(d), f"{python_for(d)} -m pytest", marker))
        elif marker is None and not any(d.is_relative_to(r) for r in pytest_roots):
            uses = _unittest_marker(d, names)
            if uses:
                found.append(Detected("unittest", str(d), f"{python_for(d)} -m unittest", uses))
        jest = _jest_marker(d, names)
        if jest:
            local = d / "node_modules" / ".bin" / "jest"
            found.append(Detected("jest", str(d), str(local) if local.exists() else "jest", jest))
        vitest = _vitest_marker(d, names)
        if vitest:
            local = d / "node_modules" / ".bin" / "vitest"
            found.append(
                Detected("vitest", str(d), str(local) if local.exists() else "vitest", vitest)
            )
        if "Cargo.toml" in names:
            found.append(Detected("cargo", str(d), "cargo test", "Cargo.toml"))
        if "go.mod" in names:
            found.append(Detected("go", str(d), "go test ./...", "go.mod"))
        for a in adapters:
            marker = next((n for n in a.detect if n in names), None)
            if marker:
                found.append(Detected(a.framework, str(d), " ".join(a.command), marker))
        make = _make_target(d, names)
        if make:
            found.append(Detected("make", str(d), f"make {make[1]}", f"{make[0]} target {make[1]}"))
        if depth >= max_depth:
            return
        for e in sorted(entries, key=lambda e: e.name):
            if e.name.startswith(".") or e.name in SKIP_DIRS or not e.is_dir(follow_symlinks=False):
                continue
            walk(Path(e.path), depth + 1)

    walk(base.resolve(), 0)
    return found


def choose(
    found: list[Detected],
    cwd: str,
    framework: str | None,
    root: str | None,
    extra: Sequence[str] = (),
) -> Detected:
    """The suite ``test.run`` runs: by framework and/or root, else the one nearest ``cwd``.
    ``extra``: frameworks of modules' test adapters."""
    known = (*FRAMEWORKS, *extra)
    if framework is not None and framework not in known:
        raise InvalidArgumentError(
            f"unknown framework {framework!r}; supported: {', '.join(known)}",
            param="framework",
        )
    candidates = [d for d in found if framework is None or d.framework == framework]
    if root is not None:
        want = str(Path(root).expanduser().resolve())
        candidates = [d for d in candidates if d.root == want]
    if not candidates:
        what = " ".join(x for x in (framework or "", f"at root {root}" if root else "") if x)
        raise NotFoundError(
            f"no {what or 'test'} suite found under {cwd} (looked for pytest config or"
            " conftest.py, go.mod, a Makefile test/check target)",
            cwd=cwd,
            framework=framework,
            root=root,
        )
    # nearest: the deepest root that contains cwd, else the shallowest root; frameworks with
    # structured results before make
    here = Path(cwd).expanduser().resolve()

    def rank(d: Detected) -> tuple[int, int, int]:
        r = Path(d.root)
        inside = here.is_relative_to(r)
        return (
            0 if inside else 1,
            -len(r.parts) if inside else len(r.parts),
            known.index(d.framework),
        )

    return min(candidates, key=rank)
