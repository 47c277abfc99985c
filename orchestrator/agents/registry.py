"""The registry of AI coding-agent CLIs: data, not code.

``registry.toml`` (shipped in the package) describes the agents orchflow knows: for each,
the terminal command (its own TUI), the ACP command if it speaks the Agent Client Protocol,
resume/continue flags, the key that submits a prompt, how it writes a file reference
(``@{path}#L{start}-{end}`` for Claude) and notes on wiring its hooks. The user's
``config.toml`` adds or overrides entries with ``[agents.<name>]`` tables; the least a new
one needs is ``command = [...]`` and ``transport = "acp"|"terminal"``::

    [agents.mine]
    command = ["my-agent", "--acp"]
    transport = "acp"

Every field is checked; a bad one is a ConfigError naming ``agents.<name>.<field>`` and
what it allows. Nothing here starts a process: ``installed()`` only looks executables up
on PATH.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from orchflow_core.errors import ConfigError

TRANSPORTS = ("acp", "terminal")
DEFAULT_INIT_TIMEOUT_S = 30.0
DEFAULT_QUIET_S = 3.0  # a terminal agent silent this long (and no hook, no pattern) is idle
WIRINGS = ("none", "claude-settings", "codex-notify", "gemini-settings", "aider-notify")
HOOK_STATES = ("working", "needs_input", "idle")  # what a hook event or a pattern may report
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_LISTS = ("command", "acp", "resume", "continue")
_TEXTS = ("label", "submit_key", "file_ref", "transport", "login")
_FIELDS = (*_LISTS, *_TEXTS, "init_timeout_s", "env", "hooks", "patterns", "quiet_s")
_HOOK_KEYS = ("wiring", "events", "note")


@dataclass(frozen=True)
class AgentSpec:
    """One registry entry, checked."""

    name: str
    label: str
    command: tuple[str, ...] = ()  # the terminal (TUI) command
    acp: tuple[str, ...] = ()  # the ACP command (stdio)
    resume: tuple[str, ...] = ()
    continue_: tuple[str, ...] = ()
    submit_key: str = "Enter"
    file_ref: str = "{path}"
    hooks: str = ""  # a note: what the vendor offers and how orchflow wires it
    hook_wiring: str = "none"  # one of WIRINGS: how orchflow wires the vendor's hooks
    hook_events: dict[str, str] = field(default_factory=dict)  # "Event[:kind]" -> state
    patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # state -> regexes
    quiet_s: float = DEFAULT_QUIET_S
    transport: str = "terminal"  # the default transport
    init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S
    env: dict[str, str] = field(default_factory=dict)
    source: str = "registry"  # "registry" | "config" | "registry+config"
    login: str = ""  # how to log in, for an agent that answers auth_required (acp_auth.py)

    def argv(self, transport: str) -> tuple[str, ...]:
        return self.acp if transport == "acp" else self.command

    def transports(self) -> list[str]:
        return [t for t in TRANSPORTS if self.argv(t)]

    def executable(self, transport: str) -> str | None:
        """The full path of the transport's program if it is on PATH, else None."""
        argv = self.argv(transport)
        return shutil.which(argv[0]) if argv else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "command": list(self.command),
            "acp": list(self.acp),
            "resume": list(self.resume),
            "continue": list(self.continue_),
            "submit_key": self.submit_key,
            "file_ref": self.file_ref,
            "hooks": {"wiring": self.hook_wiring, "events": self.hook_events, "note": self.hooks},
            "patterns": {k: list(v) for k, v in self.patterns.items()},
            "quiet_s": self.quiet_s,
            "transport": self.transport,
            "transports": self.transports(),
            "source": self.source,
            "login": self.login,
            "installed": {t: self.executable(t) for t in self.transports()},
        }


def _bad(key: str, what: str, value: Any, origin: str) -> ConfigError:
    return ConfigError(f"{origin}: {key} must be {what}, got {value!r}", origin=origin, key=key)


def _check_entry(name: str, raw: Any, origin: str) -> dict[str, Any]:
    """The entry's fields, checked; ConfigError naming ``agents.<name>.<field>``."""
    prefix = f"agents.{name}"
    if not name or not set(name) <= _NAME_CHARS:
        raise ConfigError(
            f"{origin}: agent name {name!r} must use a-z, 0-9, - and _ only",
            origin=origin,
            key=prefix,
        )
    if not isinstance(raw, dict):
        raise _bad(prefix, "a table", raw, origin)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{prefix}.{key}"
        if key not in _FIELDS:
            raise ConfigError(
                f"{origin}: unknown key {where!r}; valid here: {', '.join(sorted(_FIELDS))}",
                origin=origin,
                key=where,
            )
        if key in _LISTS:
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, str) and v for v in value)
            ):
                raise _bad(where, "a non-empty list of non-empty strings", value, origin)
            out[key] = tuple(value)
        elif key in _TEXTS:
            if not isinstance(value, str) or not value.strip():
                raise _bad(where, "a non-empty string", value, origin)
            if key == "transport" and value not in TRANSPORTS:
                raise _bad(where, f"one of {', '.join(TRANSPORTS)}", value, origin)
            out[key] = value
        elif key in ("init_timeout_s", "quiet_s"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise _bad(where, "a number of seconds > 0", value, origin)
            out[key] = float(value)
        elif key == "hooks":
            out.update(_check_hooks(value, where, origin))
        elif key == "patterns":
            out["patterns"] = _check_patterns(value, where, origin)
        elif key == "env":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise _bad(where, "a table of strings", value, origin)
            out[key] = dict(value)
    return out


def _check_hooks(value: Any, where: str, origin: str) -> dict[str, Any]:
    """``hooks = "note"`` (nothing wired) or ``[agents.X.hooks]`` {wiring, events, note}."""
    if isinstance(value, str) and value.strip():
        return {"hooks": value}
    if not isinstance(value, dict):
        raise _bad(where, "a table {wiring, events, note} or a note string", value, origin)
    out: dict[str, Any] = {}
    for key, item in value.items():
        at = f"{where}.{key}"
        if key not in _HOOK_KEYS:
            raise ConfigError(
                f"{origin}: unknown key {at!r}; valid here: {', '.join(_HOOK_KEYS)}",
                origin=origin,
                key=at,
            )
        if key == "wiring":
            if item not in WIRINGS:
                raise _bad(at, f"one of {', '.join(WIRINGS)}", item, origin)
            out["hook_wiring"] = item
        elif key == "note":
            if not isinstance(item, str):
                raise _bad(at, "a string", item, origin)
            out["hooks"] = item
        else:
            if not isinstance(item, dict) or not all(
                isinstance(k, str) and k and v in HOOK_STATES for k, v in item.items()
            ):
                raise _bad(
                    at,
                    f"a table of event name -> one of {', '.join(HOOK_STATES)}",
                    item,
                    origin,
                )
            out["hook_events"] = dict(item)
    return out


def _check_patterns(value: Any, where: str, origin: str) -> dict[str, tuple[str, ...]]:
    """``patterns = {needs_input = [...], working = [...], idle = [...]}``: Python regexes."""
    if not isinstance(value, dict):
        raise _bad(where, f"a table of {', '.join(HOOK_STATES)} -> [regex, ...]", value, origin)
    out: dict[str, tuple[str, ...]] = {}
    for state, items in value.items():
        at = f"{where}.{state}"
        if state not in HOOK_STATES:
            raise ConfigError(
                f"{origin}: unknown key {at!r}; valid here: {', '.join(HOOK_STATES)}",
                origin=origin,
                key=at,
            )
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise _bad(at, "a list of regular expressions", items, origin)
        for item in items:
            try:
                re.compile(item)
            except re.error as exc:
                raise ConfigError(
                    f"{origin}: {at}: {item!r} is not a regular expression: {exc}",
                    origin=origin,
                    key=at,
                ) from None
        out[state] = tuple(items)
    return out


def _spec(name: str, fields: dict[str, Any], source: str, origin: str) -> AgentSpec:
    fields = dict(fields)
    transport = fields.pop("transport", None)
    if source == "config" and transport == "acp" and "acp" not in fields and "command" in fields:
        # the short form for a new agent: command + transport = "acp"
        fields["acp"] = fields.pop("command")
    if transport is None:
        transport = "acp" if fields.get("acp") else "terminal"
    spec = AgentSpec(
        name=name,
        label=fields.pop("label", name),
        continue_=fields.pop("continue", ()),
        transport=transport,
        source=source,
        **fields,
    )
    if not spec.argv(spec.transport):
        need = "acp" if spec.transport == "acp" else "command"
        raise ConfigError(
            f"{origin}: agents.{name} has transport {spec.transport!r} but no {need!r} "
            f"command; give {need} = [...]",
            origin=origin,
            key=f"agents.{name}.{need}",
        )
    return spec


def builtin() -> dict[str, dict[str, Any]]:
    """The shipped entries, checked (a broken registry.toml is a bug: it raises)."""
    text = resources.files("orchestrator.agents").joinpath("registry.toml").read_text("utf-8")
    data = tomllib.loads(text)["agents"]
    return {name: _check_entry(name, raw, "registry.toml") for name, raw in data.items()}


def load(user: Any = None, *, origin: str = "config.toml") -> dict[str, AgentSpec]:
    """The registry: the shipped entries with the user's ``[agents.<name>]`` tables over
    them (a field the user sets replaces the shipped one)."""
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise _bad("agents", "a table of [agents.<name>] tables", user, origin)
    merged: dict[str, AgentSpec] = {}
    shipped = builtin()
    for name, fields in shipped.items():
        if name not in user:
            merged[name] = _spec(name, fields, "registry", "registry.toml")
    for name, raw in user.items():
        fields = _check_entry(str(name), raw, origin)
        if name in shipped:
            merged[name] = _spec(name, {**shipped[name], **fields}, "registry+config", origin)
        else:
            merged[name] = _spec(name, fields, "config", origin)
    return dict(sorted(merged.items()))


def installed(registry: dict[str, AgentSpec]) -> list[dict[str, Any]]:
    """For :checkhealth: each agent with the path of each transport's program (or None)."""
    return [
        {
            "name": spec.name,
            "label": spec.label,
            "transports": {t: spec.executable(t) for t in spec.transports()},
            "argv": {t: list(spec.argv(t)) for t in spec.transports()},
            "hooks": spec.hook_wiring,  # how a terminal agent's hooks are wired ("none")
        }
        for spec in registry.values()
    ]
