"""A module's ``manifest.json``: parsed and checked field by field.

Every error names the field (``permissions.exec[1]``, ``contributes.commands[0].name`` ...)
and what would be right. The format is documented in doc/modules.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchflow_core.errors import InvalidArgumentError, OrchflowError

KINDS = ("layout", "agent", "tool", "provider")
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
VERSION = re.compile(r"\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?")
METHOD = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*")
FS_PLACEHOLDERS = ("{module}", "{project}", "{state}", "{tmp}", "{home}")
CONTRIBUTION_KEYS = (
    "methods",
    "commands",
    "config",
    "agents",
    "modes",
    "rules",
    "templates",
    "test_adapters",
)
MAX_MANIFEST_BYTES = 256 * 1024
CONFIG_TYPES = frozenset({"string", "boolean", "number", "integer", "table", "null"})


class ManifestError(InvalidArgumentError):
    """A manifest that cannot be used; ``field`` names the bad field."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    method: str | None  # None for a built-in module's :Orchflow group
    desc: str


@dataclass(frozen=True, slots=True)
class TestAdapter:
    __test__ = False

    framework: str
    detect: tuple[str, ...]  # file names that make a directory a root
    command: tuple[str, ...]  # argv; {report}, {root}, {filter} are filled in
    parse: str | None  # a function of the entry; None for a built-in framework
    extensions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Permissions:
    fs: tuple[str, ...] = ()
    exec: tuple[str, ...] = ()
    network: tuple[str, ...] = ()  # host names; "*" for any


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    version: str
    kind: str
    entry: str | None
    description: str
    permissions: Permissions
    methods: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    agents: tuple[dict[str, Any], ...] = ()
    modes: tuple[dict[str, Any], ...] = ()
    rules: tuple[dict[str, Any], ...] = ()
    templates: tuple[str, ...] = ()
    test_adapters: tuple[TestAdapter, ...] = ()

    def contributions(self) -> dict[str, Any]:
        return {
            "methods": list(self.methods),
            "commands": [c.name for c in self.commands],
            "config": sorted(self.config),
            "agents": [a["name"] for a in self.agents],
            "modes": [m["name"] for m in self.modes],
            "rules": [r.get("id") or r["pattern"] for r in self.rules],
            "templates": list(self.templates),
            "test_adapters": [t.framework for t in self.test_adapters],
        }


def _fail(where: Path, field_: str, why: str) -> ManifestError:
    return ManifestError(f"{where}: {field_}: {why}", field=field_, path=str(where))


def _str(where: Path, data: dict[str, Any], key: str, prefix: str = "") -> str:
    value = data.get(key)
    name = prefix + key
    if value is None:
        raise _fail(where, name, "missing (a string is required)")
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, name, f"must be a non-empty string, got {json.dumps(value)}")
    return value


def _list(where: Path, data: dict[str, Any], key: str, prefix: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _fail(where, prefix + key, f"must be a list, got {type(value).__name__}")
    return value


def _strings(where: Path, data: dict[str, Any], key: str, prefix: str) -> tuple[str, ...]:
    out = []
    for i, v in enumerate(_list(where, data, key, prefix)):
        if not isinstance(v, str) or not v:
            raise _fail(where, f"{prefix}{key}[{i}]", f"must be a non-empty string, got {v!r}")
        out.append(v)
    return tuple(out)


def inside(folder: Path, relative: str) -> Path | None:
    """``folder/relative`` resolved (symlinks too) when it stays inside ``folder``."""
    if Path(relative).is_absolute():
        return None
    target = (folder / relative).resolve()
    return target if target.is_relative_to(folder.resolve()) else None


def _permissions(where: Path, data: Any) -> Permissions:
    if data is None:
        return Permissions()
    if not isinstance(data, dict):
        raise _fail(where, "permissions", f"must be an object, got {type(data).__name__}")
    unknown = sorted(set(data) - {"fs", "exec", "network"})
    if unknown:
        raise _fail(where, f"permissions.{unknown[0]}", "unknown permission (fs, exec, network)")
    fs = _strings(where, data, "fs", "permissions.")
    for i, root in enumerate(fs):
        head = root.split("/", 1)[0]
        if head.startswith("{") and head not in FS_PLACEHOLDERS:
            raise _fail(
                where, f"permissions.fs[{i}]", f"unknown placeholder {head}; use one of "
                + ", ".join(FS_PLACEHOLDERS),
            )  # fmt: skip
        if not head.startswith("{") and not Path(root).expanduser().is_absolute():
            raise _fail(
                where,
                f"permissions.fs[{i}]",
                f"{root!r} must be an absolute path or start with a placeholder",
            )
    net = data.get("network", [])
    if isinstance(net, bool):
        network: tuple[str, ...] = ("*",) if net else ()
    else:
        network = _strings(where, data, "network", "permissions.")
    return Permissions(fs, _strings(where, data, "exec", "permissions."), network)


def _commands(where: Path, data: dict[str, Any]) -> tuple[Command, ...]:
    out = []
    for i, c in enumerate(_list(where, data, "commands", "contributes.")):
        at = f"contributes.commands[{i}]."
        if not isinstance(c, dict):
            raise _fail(where, at[:-1], "must be an object {name, method, desc}")
        name = _str(where, c, "name", at)
        if not NAME.fullmatch(name):
            raise _fail(where, at + "name", f"{name!r}: lower-case letters, digits, _ and -")
        method = c.get("method")
        if method is not None and (not isinstance(method, str) or not METHOD.fullmatch(method)):
            raise _fail(where, at + "method", f"{method!r} is not a method name (prefix.name)")
        desc = c.get("desc", "")
        if not isinstance(desc, str):
            raise _fail(where, at + "desc", "must be a string")
        out.append(Command(name, method, desc))
    return tuple(out)


def _named(
    where: Path, data: dict[str, Any], key: str, required: str
) -> tuple[dict[str, Any], ...]:
    out = []
    for i, item in enumerate(_list(where, data, key, "contributes.")):
        at = f"contributes.{key}[{i}]"
        if not isinstance(item, dict):
            raise _fail(where, at, f"must be an object with {required!r}")
        _str(where, item, required, at + ".")
        out.append(item)
    return tuple(out)


def _modes(where: Path, folder: Path, data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """SPARC modes: ``{name, file}`` with ``file`` a mode file (TOML, the format of
    orchflow_core/modes/) inside the module's folder whose ``name`` is ``name``; read and
    checked now so a broken one names the field."""
    from orchflow_core.modes.modefile import ModeError, read_mode_file

    out = []
    for i, item in enumerate(_named(where, data, "modes", "name")):
        at = f"contributes.modes[{i}]"
        rel = _str(where, item, "file", at + ".")
        target = inside(folder, rel)
        if target is None or not target.is_file():
            raise _fail(where, at + ".file", f"{rel!r} is not a file in {folder}")
        try:
            mode = read_mode_file(target, source="module")
        except ModeError as exc:
            raise _fail(where, at + ".file", str(exc)) from None
        if mode.name != item["name"]:
            raise _fail(where, at + ".name", f"{item['name']!r} but {rel} names mode {mode.name!r}")
        out.append({**item, "path": str(target)})
    return tuple(out)


def _agents(where: Path, data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Agent registry entries (``name`` plus the fields of an ``[agents.<name>]`` table),
    checked by the orchestrator's registry when it is installed (core runs without it: the
    orchestrator is what uses them)."""
    agents = _named(where, data, "agents", "name")
    try:
        from orchestrator.agents import registry
    except ImportError:
        return agents
    for i, a in enumerate(agents):
        fields = {k: v for k, v in a.items() if k != "name"}
        try:
            registry.load({a["name"]: fields}, origin=f"contributes.agents[{i}]")
        except OrchflowError as exc:
            raise _fail(where, f"contributes.agents[{i}]", exc.message) from None
    return agents


def _rules(where: Path, data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Rules in the rule engine's own form (orchflow_core/protocol/rules.py), checked by it."""
    from orchflow_core.protocol.rules import RuleError, rule_from_dict

    rules = _named(where, data, "rules", "pattern")
    for i, r in enumerate(rules):
        try:
            rule_from_dict(r, source=str(where))
        except RuleError as exc:
            at = f"contributes.rules[{i}]" + (f".{exc.field}" if exc.field else "")
            raise _fail(where, at, str(exc)) from None
    return rules


def _adapters(where: Path, data: dict[str, Any]) -> tuple[TestAdapter, ...]:
    out = []
    for i, a in enumerate(_list(where, data, "test_adapters", "contributes.")):
        at = f"contributes.test_adapters[{i}]."
        if not isinstance(a, dict):
            raise _fail(where, at[:-1], "must be an object {framework, detect, command, parse}")
        framework = _str(where, a, "framework", at)
        if not NAME.fullmatch(framework):
            raise _fail(where, at + "framework", f"{framework!r}: lower-case letters and digits")
        if a.get("builtin") is True:
            out.append(TestAdapter(framework, (), (), None, ()))
            continue
        detect = _strings(where, a, "detect", at)
        command = _strings(where, a, "command", at)
        if not detect:
            raise _fail(where, at + "detect", "missing (the file names that mark a root)")
        if not command:
            raise _fail(where, at + "command", "missing (the argv that runs the suite)")
        if "{report}" not in " ".join(command):
            raise _fail(where, at + "command", "must pass {report} (where results are written)")
        exts = _strings(where, a, "extensions", at)
        out.append(TestAdapter(framework, detect, command, _str(where, a, "parse", at), exts))
    return tuple(out)


def parse_manifest(folder: Path, *, builtin: bool = False) -> Manifest:
    """Read and check ``folder/manifest.json``; raises ManifestError naming the field."""
    where = folder / "manifest.json"
    try:
        if where.stat().st_size > MAX_MANIFEST_BYTES:
            raise _fail(where, "manifest.json", f"larger than {MAX_MANIFEST_BYTES} bytes")
        data = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(where, "manifest.json", "missing (every module folder has one)") from None
    except OSError as exc:
        raise _fail(where, "manifest.json", f"unreadable: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _fail(where, "manifest.json", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(where, "manifest.json", "must hold a JSON object")
    known = {"name", "version", "kind", "entry", "description", "permissions", "contributes"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _fail(where, unknown[0], "unknown field (" + ", ".join(sorted(known)) + ")")
    name = _str(where, data, "name")
    if not NAME.fullmatch(name):
        raise _fail(where, "name", f"{name!r}: lower-case letters, digits, _ and - (up to 40)")
    version = _str(where, data, "version")
    if not VERSION.fullmatch(version):
        raise _fail(where, "version", f"{version!r} is not a version like 1.0 or 1.2.3")
    kind = _str(where, data, "kind")
    if kind not in KINDS:
        raise _fail(where, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    entry = _str(where, data, "entry")
    if builtin:
        if not (folder / entry).is_file():
            raise _fail(where, "entry", f"{entry!r} does not exist in {folder}")
    else:
        target = inside(folder, entry)
        if target is None:
            raise _fail(where, "entry", f"{entry!r} is outside the module's folder {folder}")
        if target.suffix != ".py" or not target.is_file():
            raise _fail(where, "entry", f"{entry!r} is not a Python file in {folder}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(where, "description", "must be a string")
    contributes = data.get("contributes", {})
    if not isinstance(contributes, dict):
        raise _fail(where, "contributes", "must be an object")
    unknown = sorted(set(contributes) - set(CONTRIBUTION_KEYS))
    if unknown:
        raise _fail(
            where, f"contributes.{unknown[0]}", "unknown (" + ", ".join(CONTRIBUTION_KEYS) + ")"
        )
    methods = _strings(where, contributes, "methods", "contributes.")
    for i, m in enumerate(methods):
        if not METHOD.fullmatch(m + "x" if m.endswith(".") else m):
            raise _fail(where, f"contributes.methods[{i}]", f"{m!r} is not a method name")
    config = contributes.get("config", {})
    if not isinstance(config, dict):
        raise _fail(where, "contributes.config", "must be an object of settings")
    for key, spec in config.items():
        if not isinstance(spec, dict) or "type" not in spec or "default" not in spec:
            raise _fail(where, f"contributes.config.{key}", "needs {type, default, doc}")
        types = spec["type"]
        if not isinstance(types, list) or not types or not set(types) <= CONFIG_TYPES:
            raise _fail(
                where,
                f"contributes.config.{key}.type",
                f"{types!r}: a list of " + ", ".join(sorted(CONFIG_TYPES)),
            )
        spec.setdefault("scope", "core")
    templates = _strings(where, contributes, "templates", "contributes.")
    for i, t in enumerate(templates):
        target = inside(folder, t)
        if target is None or not target.is_file():
            raise _fail(where, f"contributes.templates[{i}]", f"{t!r} is not a file in {folder}")
    return Manifest(
        name=name,
        version=version,
        kind=kind,
        entry=entry,
        description=description,
        permissions=_permissions(where, data.get("permissions")),
        methods=methods,
        commands=_commands(where, contributes),
        config=config,
        agents=_agents(where, contributes),
        modes=_modes(where, folder, contributes),
        rules=_rules(where, contributes),
        templates=templates,
        test_adapters=_adapters(where, contributes),
    )
