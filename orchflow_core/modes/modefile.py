"""One mode file (TOML, read as data: nothing in it runs)::

    name = "tdd"                      # optional; default the file's stem
    description = "Test-driven development: red, green, refactor"
    preamble = '''
    Work test first: ...
    '''
    agent_types = ["test", "ai"]      # the router leans to these (dev test repl build lint ai)
    agents = ["claude"]               # AI agents from the agent registry it suits
    rules = ["no-verify-commit"]      # rule ids (protocol system) in force while it is active
    context = ["{file}", "{diagnostics}"]  # what :Orchflow ask {agent} adds by default

    [[steps]]
    name = "failing test"
    description = "Write a test for the behaviour you want and see it fail"
    agent_type = "ai"                 # optional

A problem is a ``ModeError`` whose message starts ``file:line:`` (the line of the key at
fault, or the TOML parser's line for a syntax error).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROUTED_TYPES = ("dev", "test", "repl", "build", "lint", "ai")
PLACEHOLDERS = ("{file}", "{selection}", "{line}", "{diagnostics}", "{quickfix}", "{buffers}")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_FILE_BYTES = 64 * 1024
MAX_PREAMBLE = 8000
_KEYS = ("name", "description", "preamble", "agent_types", "agents", "rules", "context", "steps")
_STEP_KEYS = ("name", "description", "agent_type")


class ModeError(ValueError):
    """A mode file that cannot be used; the message names file, line and what is wrong."""


@dataclass(frozen=True)
class Step:
    name: str
    description: str = ""
    agent_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "agent_type": self.agent_type}


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    preamble: str
    agent_types: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    source: str = ""  # "builtin", "user" or "project"
    path: str = ""
    overrides: str | None = field(default=None, compare=False)  # the path it replaces

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "preamble": self.preamble,
            "agent_types": list(self.agent_types),
            "agents": list(self.agents),
            "rules": list(self.rules),
            "context": list(self.context),
            "steps": [s.to_dict() for s in self.steps],
            "source": self.source,
            "path": self.path,
            "overrides": self.overrides,
        }


def _line_of(text: str, key: str) -> int:
    found = re.search(rf"^\s*{re.escape(key)}\s*=", text, re.M)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def _strings(
    data: dict[str, Any], key: str, where: str, allowed: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ModeError(f"{where}: {key} must be a list of non-empty strings, got {value!r}")
    if allowed is not None:
        bad = [v for v in value if v not in allowed]
        if bad:
            raise ModeError(f"{where}: {key}: {bad[0]!r} is not one of {', '.join(allowed)}")
    return tuple(value)


def read_mode_file(path: Path, *, source: str) -> Mode:
    """The mode in ``path``; ModeError (``file:line: why``) when it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModeError(f"{path}:1: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ModeError(f"{path}:1: {len(raw)} bytes; a mode file holds at most {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModeError(f"{path}:1: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else 1
        bare = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ModeError(f"{path}:{line}: invalid TOML: {bare}") from None

    def at(key: str) -> str:
        return f"{path}:{_line_of(text, key)}"

    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ModeError(
            f"{at(unknown[0])}: unknown key {unknown[0]!r} (a mode has {', '.join(_KEYS)})"
        )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ModeError(
            f"{at('name')}: name {name!r} must be 1 to 40 lower-case letters, digits, - or _"
        )
    description = data.get("description", "")
    if not isinstance(description, str) or not description.strip():
        raise ModeError(f"{at('description')}: description must be a non-empty string")
    preamble = data.get("preamble", "")
    if not isinstance(preamble, str):
        raise ModeError(f"{at('preamble')}: preamble must be a string")
    if len(preamble) > MAX_PREAMBLE:
        raise ModeError(
            f"{at('preamble')}: preamble is {len(preamble)} characters; at most {MAX_PREAMBLE}"
        )
    steps_raw = data.get("steps", [])
    if not isinstance(steps_raw, list) or not all(isinstance(s, dict) for s in steps_raw):
        raise ModeError(f"{at('steps')}: steps must be [[steps]] tables")
    steps: list[Step] = []
    step_lines = [
        text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"^\s*\[\[\s*steps", text, re.M)
    ]
    for n, step in enumerate(steps_raw):
        where = f"{path}:{step_lines[n] if n < len(step_lines) else _line_of(text, 'steps')}"
        extra = sorted(set(step) - set(_STEP_KEYS))
        if extra:
            raise ModeError(
                f"{where}: step {n + 1}: unknown key {extra[0]!r} (a step has name, description,"
                " agent_type)"
            )
        sname, sdesc, stype = step.get("name"), step.get("description", ""), step.get("agent_type")
        if not isinstance(sname, str) or not sname.strip():
            raise ModeError(f"{where}: step {n + 1} needs a name")
        if not isinstance(sdesc, str):
            raise ModeError(f"{where}: step {n + 1}: description must be a string")
        if stype is not None and stype not in ROUTED_TYPES:
            raise ModeError(
                f"{where}: step {n + 1}: agent_type {stype!r} is not one of"
                f" {', '.join(ROUTED_TYPES)}"
            )
        steps.append(Step(sname.strip(), sdesc.strip(), stype))
    return Mode(
        name=name,
        description=description.strip(),
        preamble=preamble.strip(),
        agent_types=_strings(data, "agent_types", at("agent_types"), ROUTED_TYPES),
        agents=_strings(data, "agents", at("agents")),
        rules=_strings(data, "rules", at("rules")),
        context=_strings(data, "context", at("context"), PLACEHOLDERS),
        steps=tuple(steps),
        source=source,
        path=str(path),
    )
