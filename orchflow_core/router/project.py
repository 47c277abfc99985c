"""What a project can run, per agent type, for the router: detect.py's defaults plus the
extra entry points the router can use (every Makefile target, justfile recipes, the test
runner behind an npm script, mypy, Python entry points), cached by the files' stat.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from orchflow_core.project.detect import (
    MAKEFILE_NAMES,
    ProjectCommands,
    _read_text,
    detect_project_commands,
    make_targets,
)

WATCHED = (
    *MAKEFILE_NAMES,
    "package.json",
    "Cargo.toml",
    "go.mod",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "pytest.ini",
    "tox.ini",
    "justfile",
    "Justfile",
    "manage.py",
    "main.py",
    "app.py",
    "mypy.ini",
    "ruff.toml",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lockb",
    "bun.lock",
    "package-lock.json",
    "tsconfig.json",
    "pyrightconfig.json",
)
MAX_FILE_BYTES = 1024 * 1024
_JUST_RECIPE_RE = re.compile(r"^@?([A-Za-z_][A-Za-z0-9_-]*)(?:\s+[^:]*)?:(?!=)")
# A make variable the recipe passes on, so `make test ARGS=auth` reaches the runner.
_MAKE_ARGS_VAR_RE = re.compile(r"\$[({](ARGS|TEST_ARGS|TESTARGS|FILTER|K|RUN|T)[)}]")


@dataclass
class ProjectView:
    root: str
    detected: ProjectCommands
    # type -> [(command, source)], best first (detect.py's default first).
    commands: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    make_targets: list[str] = field(default_factory=list)
    makefile: str | None = None
    make_args_var: dict[str, str] = field(default_factory=dict)  # target -> variable
    test_runner: str | None = None  # jest, vitest, mocha for an npm test script
    package_manager: str | None = None
    kinds: list[str] = field(default_factory=list)  # node, python, rust, go, make, just
    # The project's type checker as (command, source): what "typecheck" runs.
    type_checker: tuple[str, str] | None = None

    def first(self, agent_type: str) -> tuple[str, str] | None:
        found = self.commands.get(agent_type)
        return found[0] if found else None

    def add(self, agent_type: str, command: str, source: str) -> None:
        bucket = self.commands.setdefault(agent_type, [])
        if all(c != command for c, _ in bucket):
            bucket.append((command, source))


def _signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for name in WATCHED:
        try:
            st = os.stat(root / name)
        except OSError:
            continue
        out.append((name, st.st_mtime_ns, st.st_size))
    return tuple(out)


class ProjectCache:
    """ProjectView per root, rebuilt when a watched file changes (a few stat calls)."""

    def __init__(self, limit: int = 64) -> None:
        self._views: dict[str, tuple[tuple[tuple[str, int, int], ...], ProjectView]] = {}
        self._limit = limit

    def get(self, root: str) -> ProjectView:
        base = Path(root)
        sig = _signature(base)
        hit = self._views.get(root)
        if hit and hit[0] == sig:
            return hit[1]
        view = scan(base)  # NotFoundError for a missing directory
        if len(self._views) >= self._limit:
            self._views.pop(next(iter(self._views)))
        self._views[root] = (sig, view)
        return view


def _text(base: Path, name: str) -> str | None:
    path = base / name
    if not path.is_file():
        return None
    text, _problem = _read_text(path, MAX_FILE_BYTES)
    return text


def scan(base: Path) -> ProjectView:
    detected = detect_project_commands(base)
    view = ProjectView(str(base), detected)
    for agent_type, default in detected.commands.items():
        if default.command:
            view.add(agent_type, default.command, default.source or "")
    makefile = next((n for n in MAKEFILE_NAMES if (base / n).is_file()), None)
    if makefile and (text := _text(base, makefile)) is not None:
        view.kinds.append("make")
        view.makefile = makefile
        view.make_targets = make_targets(text)
        current = None
        for line in text.splitlines():
            if line and not line[0].isspace() and ":" in line:
                current = line.split(":", 1)[0].strip()
            elif line.startswith("\t") and current and (m := _MAKE_ARGS_VAR_RE.search(line)):
                view.make_args_var.setdefault(current, m.group(1))
    if (text := _text(base, "package.json")) is not None:
        view.kinds.append("node")
        view.add("repl", "node", "package.json (Node project)")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = {}
        scripts = data.get("scripts") if isinstance(data, dict) else None
        test_script = scripts.get("test") if isinstance(scripts, dict) else None
        if isinstance(test_script, str):
            for runner in ("vitest", "jest", "mocha"):
                if re.search(rf"\b{runner}\b", test_script):
                    view.test_runner = runner
                    break
        test_command = detected.commands["test"].command or ""
        view.package_manager = test_command.split()[0] if test_command.split() else None
        pm = view.package_manager or "npm"
        typecheck_script = next(
            (n for n in TYPECHECK_NAMES if isinstance(scripts, dict) and n in scripts), None
        )
        if typecheck_script:
            view.type_checker = (
                f"{pm} run {typecheck_script}",
                f"package.json script {typecheck_script}",
            )
        elif (base / "tsconfig.json").is_file():
            view.type_checker = (f"{NPX[pm]} tsc --noEmit", "tsconfig.json (TypeScript)")
    if (base / "Cargo.toml").is_file():
        view.type_checker = view.type_checker or ("cargo check", "Cargo.toml")
    if (base / "Cargo.toml").is_file():
        view.kinds.append("rust")
    if (base / "go.mod").is_file():
        view.kinds.append("go")
        view.type_checker = view.type_checker or ("go vet ./...", "go.mod (go vet type-checks)")
    pyproject = _text(base, "pyproject.toml")
    if pyproject is not None or (base / "setup.py").is_file():
        view.kinds.append("python")
        data = {}
        if pyproject is not None:
            try:
                data = tomllib.loads(pyproject)
            except tomllib.TOMLDecodeError:
                data = {}
        tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
        if "mypy" in tool or (base / "mypy.ini").is_file():
            view.add("lint", "mypy .", "pyproject.toml [tool.mypy]")
            view.type_checker = view.type_checker or ("mypy .", "pyproject.toml [tool.mypy]")
        elif "pyright" in tool or (base / "pyrightconfig.json").is_file():
            view.add("lint", "pyright", "pyright configuration")
            view.type_checker = view.type_checker or ("pyright", "pyright configuration")
        project = data.get("project") if isinstance(data.get("project"), dict) else {}
        scripts = project.get("scripts") if isinstance(project, dict) else None
        if isinstance(scripts, dict) and scripts:
            name = next(iter(scripts))
            view.add("dev", name, f"pyproject.toml [project.scripts] {name}")
        for entry in ("manage.py", "main.py", "app.py"):
            if (base / entry).is_file():
                cmd = "python manage.py runserver" if entry == "manage.py" else f"python {entry}"
                view.add("dev", cmd, entry)
                break
    for name in ("justfile", "Justfile"):
        if (text := _text(base, name)) is not None:
            view.kinds.append("just")
            for line in text.splitlines():
                m = _JUST_RECIPE_RE.match(line)
                if m:
                    _classify_entry(view, m.group(1), f"just {m.group(1)}", f"{name} recipe")
            break
    for target in view.make_targets:
        _classify_entry(view, target, f"make {target}", f"{view.makefile} target {target}")
    # A Makefile target or just recipe named for type checking is the project's own word.
    for agent_type_cmds in view.commands.get("lint", []):
        cmd, src = agent_type_cmds
        last = cmd.split()[-1]
        if cmd.split()[0] in {"make", "just"} and last in TYPECHECK_NAMES:
            view.type_checker = (cmd, src)
            break
    return view


TYPECHECK_NAMES = ("typecheck", "type-check", "check-types", "types", "tsc", "mypy", "pyright")
NPX = {"npm": "npx", "pnpm": "pnpm exec", "yarn": "yarn", "bun": "bunx"}


# Target or recipe names -> type (beyond detect.py's dev/run/test/build/lint).
ENTRY_NAMES = {
    "test": ("test", "tests", "check", "spec", "unit", "integration", "e2e", "coverage"),
    "dev": ("dev", "run", "serve", "server", "start", "watch"),
    "build": ("build", "compile", "dist", "release", "bundle", "all"),
    "lint": ("lint", "vet", "clippy", "typecheck", "mypy", "fmt-check", "style", "types", "tsc"),
    "repl": ("repl", "shell", "console"),
}


def _classify_entry(view: ProjectView, name: str, command: str, source: str) -> None:
    parts = re.split(r"[-_.:/]", name.lower())
    for agent_type, names in ENTRY_NAMES.items():
        if parts and parts[0] in names:
            view.add(agent_type, command, source)
            return
