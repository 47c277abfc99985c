"""Default commands for each agent type, detected from a project directory.

Agent types: dev, test, repl, build, lint (custom has no default). Sources, in precedence
order; the first source that offers a command for a type wins:

1. ``Makefile`` (also ``GNUmakefile``, ``makefile``) targets ``dev``/``run``, ``test``,
   ``build``, ``lint`` -> ``make <target>``. They win because they are the project's own
   entry points: a Makefile that wraps ``cargo test`` with flags knows better than we do.
2. ``package.json`` scripts ``dev``/``start``, ``test``, ``build``, ``lint`` ->
   ``<pm> run <script>``: also commands the project wrote down. The package manager comes
   from the ``packageManager`` field, else the lockfile (pnpm-lock.yaml, yarn.lock,
   bun.lockb/bun.lock), else npm.
3. ``Cargo.toml`` -> cargo run / test / build / clippy (convention of the toolchain).
4. ``go.mod`` -> go run . / go test ./... / go build ./... / go vet ./...
5. Python (pyproject.toml, setup.py, setup.cfg, pytest.ini, tox.ini) -> ``pytest`` when
   pytest is configured or a dependency, ``python`` as the repl, ``ruff check .`` when ruff is
   configured, ``python -m build`` when pyproject.toml has ``[build-system]``. Last, because
   a pyproject.toml or tox.ini is often present only to configure tools in a project whose
   main language is another.

A malformed or unreadable file never raises: that source is skipped and the reason is in
``ProjectCommands.skipped`` and in the ``reason`` of every type left without a command.

The parsers below take text and return findings (no I/O); ``detect_project_commands`` does
the reading. It is synchronous and reads a handful of small files: call it through
``asyncio.to_thread`` from the event loop.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import stat
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchflow_core.errors import InvalidArgumentError, NotFoundError

AGENT_TYPES = ("dev", "test", "repl", "build", "lint", "custom")
DETECTED_TYPES = AGENT_TYPES[:-1]
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
# Reading every .go file of a huge root to find "package main" is not worth it.
MAX_GO_FILES_SCANNED = 50

MAKEFILE_NAMES = ("GNUmakefile", "makefile", "Makefile")  # GNU make's lookup order
MAKE_TARGETS = {"dev": ("dev", "run"), "test": ("test",), "build": ("build",), "lint": ("lint",)}
NPM_SCRIPTS = {"dev": ("dev", "start"), "test": ("test",), "build": ("build",), "lint": ("lint",)}
LOCKFILES = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("bun.lockb", "bun"),
    ("bun.lock", "bun"),
    ("package-lock.json", "npm"),
)
PACKAGE_MANAGERS = ("npm", "pnpm", "yarn", "bun")
PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini")

# A rule line: targets at column 0, then ":" or "::" that is not an assignment (":=", "::=").
_MAKE_RULE_RE = re.compile(
    r"^([A-Za-z0-9_.][A-Za-z0-9_./-]*(?:[ \t]+[A-Za-z0-9_./-]+)*)[ \t]*(?:::|:)(?![:=])"
)
_GO_MODULE_RE = re.compile(r"^\s*module\s+\S+", re.MULTILINE)
_GO_PACKAGE_MAIN_RE = re.compile(r"^package\s+main\b", re.MULTILINE)
_PYTEST_REQ_RE = re.compile(r"^\s*pytest\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DefaultCommand:
    """The default command for one agent type, or None with the reason none was found."""

    agent_type: str
    command: str | None
    source: str | None  # e.g. "package.json scripts.test"
    reason: str | None  # set exactly when command is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SkippedSource:
    """A project file that was present but could not be used."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ProjectCommands:
    root: str
    commands: dict[str, DefaultCommand]
    skipped: tuple[SkippedSource, ...]

    def command_for(self, agent_type: str) -> DefaultCommand:
        _check_agent_type(agent_type)
        return self.commands[agent_type]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "commands": {t: c.to_dict() for t, c in self.commands.items()},
            "skipped": [asdict(s) for s in self.skipped],
        }


@dataclass
class SourceFinding:
    """What one source offers: commands by type, why not for the others, what was skipped."""

    name: str
    commands: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (cmd, source)
    notes: dict[str, str] = field(default_factory=dict)  # type -> why no command
    skipped: list[SkippedSource] = field(default_factory=list)

    def offer(self, agent_type: str, command: str, source: str) -> None:
        self.commands.setdefault(agent_type, (command, source))

    def note(self, agent_type: str, why: str) -> None:
        self.notes.setdefault(agent_type, why)

    def skip(self, path: str, reason: str) -> SourceFinding:
        self.skipped.append(SkippedSource(path, reason))
        return self


# -- parsers (text in, findings out) ----------------------------------------------------------


def make_targets(text: str) -> list[str]:
    """Explicit target names of a Makefile, in order (pattern and special targets excluded)."""
    targets: list[str] = []
    for line in text.splitlines():
        match = _MAKE_RULE_RE.match(line)
        if not match:
            continue
        for name in match.group(1).split():
            if not name.startswith(".") and "%" not in name and name not in targets:
                targets.append(name)
    return targets


def parse_makefile(filename: str, text: str) -> SourceFinding:
    finding = SourceFinding(filename)
    targets = set(make_targets(text))
    for agent_type in DETECTED_TYPES:
        names = MAKE_TARGETS.get(agent_type, ())
        hit = next((n for n in names if n in targets), None)
        if hit:
            finding.offer(agent_type, f"make {hit}", f"{filename} target {hit}")
        elif names:
            finding.note(agent_type, f"{filename} has no {'/'.join(names)} target")
        else:
            finding.note(agent_type, f"{filename} targets are not used for {agent_type}")
    return finding


def package_manager(data: dict[str, Any], present_files: set[str]) -> str:
    """npm, pnpm, yarn or bun: the packageManager field, else the lockfile, else npm."""
    declared = data.get("packageManager")
    if isinstance(declared, str):
        name = declared.split("@", 1)[0].strip().lower()
        if name in PACKAGE_MANAGERS:
            return name
    for lockfile, manager in LOCKFILES:
        if lockfile in present_files:
            return manager
    return "npm"


def parse_package_json(text: str, present_files: set[str]) -> SourceFinding:
    finding = SourceFinding("package.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return finding.skip("package.json", f"invalid JSON: {exc}")
    if not isinstance(data, dict):
        return finding.skip("package.json", "top level is not a JSON object")
    scripts = data.get("scripts", {})
    if not isinstance(scripts, dict):
        return finding.skip("package.json", "'scripts' is not a JSON object")
    manager = package_manager(data, present_files)
    for agent_type in DETECTED_TYPES:
        names = NPM_SCRIPTS.get(agent_type, ())
        usable = [n for n in names if isinstance(scripts.get(n), str) and scripts[n].strip()]
        if agent_type == "test" and usable and "no test specified" in scripts["test"]:
            finding.note("test", "package.json scripts.test is npm init's placeholder")
            usable = []
        if usable:
            finding.offer(
                agent_type, f"{manager} run {usable[0]}", f"package.json scripts.{usable[0]}"
            )
        elif names:
            finding.note(agent_type, f"package.json has no {'/'.join(names)} script")
        else:
            finding.note(agent_type, f"package.json has no convention for {agent_type}")
    return finding


def parse_cargo_toml(text: str, *, has_main_rs: bool) -> SourceFinding:
    finding = SourceFinding("Cargo.toml")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return finding.skip("Cargo.toml", f"invalid TOML: {exc}")
    package = data.get("package")
    if not isinstance(package, dict) and "workspace" not in data:
        return finding.skip("Cargo.toml", "neither [package] nor [workspace] is defined")
    has_bin = (
        has_main_rs
        or bool(data.get("bin"))
        or (isinstance(package, dict) and "default-run" in package)
    )
    if has_bin:
        finding.offer("dev", "cargo run", "Cargo.toml (binary target)")
    else:
        finding.note("dev", "Cargo.toml has no binary target (src/main.rs or [[bin]])")
    finding.offer("test", "cargo test", "Cargo.toml")
    finding.offer("build", "cargo build", "Cargo.toml")
    finding.offer("lint", "cargo clippy", "Cargo.toml")
    finding.note("repl", "Rust has no standard REPL")
    return finding


def parse_go_mod(text: str, *, root_has_main: bool) -> SourceFinding:
    finding = SourceFinding("go.mod")
    if not _GO_MODULE_RE.search(text):
        return finding.skip("go.mod", "no 'module' directive")
    if root_has_main:
        finding.offer("dev", "go run .", "go.mod (package main in the module root)")
    else:
        finding.note("dev", "go.mod: no package main in the module root")
    finding.offer("test", "go test ./...", "go.mod")
    finding.offer("build", "go build ./...", "go.mod")
    finding.offer("lint", "go vet ./...", "go.mod")
    finding.note("repl", "Go has no standard REPL")
    return finding


def _table(data: object, key: str) -> dict[str, Any]:
    """``data[key]`` when both are TOML tables, else {} (valid TOML of the wrong shape)."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _pyproject_lists_pytest(data: dict[str, Any]) -> bool:
    project = _table(data, "project")
    deps = project.get("dependencies")
    reqs: list[Any] = list(deps) if isinstance(deps, list) else []
    for groups in (_table(project, "optional-dependencies"), _table(data, "dependency-groups")):
        for items in groups.values():
            reqs.extend(items if isinstance(items, list) else [])
    poetry = _table(_table(data, "tool"), "poetry")
    reqs.extend(_table(poetry, "dev-dependencies"))
    for group in _table(poetry, "group").values():
        reqs.extend(_table(group, "dependencies"))
    return any(isinstance(r, str) and _PYTEST_REQ_RE.match(r) for r in reqs)


def parse_python(texts: dict[str, str], present_files: set[str]) -> SourceFinding:
    """Python project files: ``texts`` maps the readable ones among PYTHON_MARKERS to text."""
    finding = SourceFinding("Python")
    pyproject: dict[str, Any] = {}
    if "pyproject.toml" in texts:
        try:
            pyproject = tomllib.loads(texts["pyproject.toml"])
        except tomllib.TOMLDecodeError as exc:
            finding.skip("pyproject.toml", f"invalid TOML: {exc}")
    ini_sections: dict[str, set[str]] = {}
    for name in ("setup.cfg", "tox.ini"):
        if name in texts:
            parser = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                parser.read_string(texts[name], source=name)
            except configparser.Error as exc:
                finding.skip(name, f"invalid INI: {exc}")
                continue
            ini_sections[name] = set(parser.sections())
    tool = _table(pyproject, "tool")

    pytest_sources = [
        ("pytest.ini", "pytest.ini" in texts),
        (
            "pyproject.toml [tool.pytest.ini_options]"
            if "ini_options" in _table(tool, "pytest")
            else "pyproject.toml [tool.pytest]",
            "pytest" in tool,
        ),
        ("setup.cfg [tool:pytest]", "tool:pytest" in ini_sections.get("setup.cfg", set())),
        ("tox.ini [pytest]", "pytest" in ini_sections.get("tox.ini", set())),
        ("pyproject.toml dependencies (pytest)", _pyproject_lists_pytest(pyproject)),
    ]
    pytest_source = next((label for label, hit in pytest_sources if hit), None)
    if pytest_source:
        finding.offer("test", "pytest", pytest_source)
    else:
        finding.note("test", "Python: pytest is neither configured nor a dependency")

    marker = next((m for m in PYTHON_MARKERS if m in texts), None)
    if marker:
        finding.offer("repl", "python", f"{marker} (Python project)")

    if "ruff" in tool:
        finding.offer("lint", "ruff check .", "pyproject.toml [tool.ruff]")
    elif present_files & {"ruff.toml", ".ruff.toml"}:
        name = "ruff.toml" if "ruff.toml" in present_files else ".ruff.toml"
        finding.offer("lint", "ruff check .", name)
    else:
        finding.note("lint", "Python: ruff is not configured ([tool.ruff] or ruff.toml)")

    if isinstance(pyproject.get("build-system"), dict):
        finding.offer("build", "python -m build", "pyproject.toml [build-system]")
    else:
        finding.note("build", "Python: pyproject.toml has no [build-system]")
    finding.note("dev", "Python projects have no conventional dev command")
    return finding


def combine(root: str, findings: list[SourceFinding]) -> ProjectCommands:
    """Pick, per type, the first finding (in precedence order) that offers a command."""
    skipped = tuple(s for f in findings for s in f.skipped)
    commands: dict[str, DefaultCommand] = {}
    for agent_type in DETECTED_TYPES:
        chosen = next((f.commands[agent_type] for f in findings if agent_type in f.commands), None)
        if chosen:
            commands[agent_type] = DefaultCommand(agent_type, chosen[0], chosen[1], None)
            continue
        why = [f.notes[agent_type] for f in findings if agent_type in f.notes]
        why += [f"{s.path} skipped ({s.reason})" for s in skipped]
        if not why:
            why = [
                f"no Makefile, package.json, Cargo.toml, go.mod or Python project file in {root}"
            ]
        commands[agent_type] = DefaultCommand(agent_type, None, None, "; ".join(why))
    commands["custom"] = DefaultCommand(
        "custom", None, None, "custom agents have no default command; give one explicitly"
    )
    return ProjectCommands(root, commands, skipped)


# -- I/O ----------------------------------------------------------------------------------


def detect_project_commands(
    root: str | os.PathLike[str], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> ProjectCommands:
    """Detect the default command of every agent type for the project at ``root``.

    Files larger than ``max_file_bytes`` are skipped (with the reason), never read whole.
    NotFoundError if ``root`` is not a directory.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise NotFoundError(
            f"project directory {str(base)!r} does not exist or is not a directory",
            path=str(base),
        )
    try:
        # Not only regular files: a Makefile that is a FIFO or a symlink to /dev/zero is
        # reported as skipped (with why), not silently ignored.
        present = {e.name for e in os.scandir(base) if not e.is_dir(follow_symlinks=False)}
    except OSError as exc:
        raise NotFoundError(f"cannot list project directory {base}: {exc}", path=str(base)) from exc
    findings: list[SourceFinding] = []
    unreadable: list[SourceFinding] = []

    def read(name: str) -> str | None:
        if name not in present:
            return None
        text, problem = _read_text(base / name, max_file_bytes)
        if problem:
            unreadable.append(SourceFinding(name).skip(name, problem))
        return text

    makefile = next((n for n in MAKEFILE_NAMES if n in present), None)
    if makefile and (text := read(makefile)) is not None:
        findings.append(parse_makefile(makefile, text))
    if (text := read("package.json")) is not None:
        findings.append(parse_package_json(text, present))
    if (text := read("Cargo.toml")) is not None:
        has_main_rs = (base / "src" / "main.rs").is_file()
        findings.append(parse_cargo_toml(text, has_main_rs=has_main_rs))
    if (text := read("go.mod")) is not None:
        findings.append(parse_go_mod(text, root_has_main=_go_root_has_main(base, max_file_bytes)))
    python_texts = {n: t for n in PYTHON_MARKERS if (t := read(n)) is not None}
    if python_texts:
        findings.append(parse_python(python_texts, present))
    return combine(str(base), findings + unreadable)


def default_command(
    root: str | os.PathLike[str], agent_type: str, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> DefaultCommand:
    """The default command for one agent type (InvalidArgumentError for an unknown type)."""
    _check_agent_type(agent_type)
    return detect_project_commands(root, max_file_bytes=max_file_bytes).commands[agent_type]


def _check_agent_type(agent_type: object) -> None:
    if agent_type not in AGENT_TYPES:
        raise InvalidArgumentError(
            f"agent_type must be one of {', '.join(AGENT_TYPES)}, not {agent_type!r}",
            agent_type=agent_type if isinstance(agent_type, str) else None,
        )


def _read_text(path: Path, max_bytes: int) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it could not be read).

    Reads at most ``max_bytes + 1`` bytes of a regular file: a 50 MB package.json costs
    one capped read, and a FIFO, a device (a symlink to /dev/zero) or a directory is
    refused from ``fstat`` before any read (opened non-blocking: a FIFO never hangs us).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return None, f"not a regular file ({_file_kind(mode)})"
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return None, f"larger than {max_bytes} bytes"
    if b"\x00" in data:
        return None, "a binary file (it contains NUL bytes)"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text: {exc.reason} at byte {exc.start}"


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _go_root_has_main(base: Path, max_file_bytes: int) -> bool:
    go_files = sorted(
        entry.path
        for entry in os.scandir(base)
        if entry.name.endswith(".go") and not entry.name.endswith("_test.go") and entry.is_file()
    )
    for path in go_files[:MAX_GO_FILES_SCANNED]:
        text, _ = _read_text(Path(path), max_file_bytes)
        if text and _GO_PACKAGE_MAIN_RE.search(text):
            return True
    return False
