"""Parse history files (bash, zsh, fish, orchflow's JSON export). Pure: bytes in, runs out.

A malformed line or record is skipped and counted, never fatal. Blank lines are ignored
and not counted. Bytes that are not UTF-8 make their record malformed (SQLite text must be
valid UTF-8).

bash  plain lines, one command each. With HISTTIMEFORMAT set bash writes ``#<unix ts>``
      before each command; then every line up to the next timestamp belongs to that one
      (multi-line) command. Malformed: a ``#<digit>...`` line that is not all digits or is
      out of range, a timestamp with no command after it.
zsh   EXTENDED_HISTORY lines ``: <start>:<elapsed>;<command>``; a line ending in ``\\``
      continues on the next line (the backslash stands for a newline). Lines without the
      header are plain commands (the option was off). Bytes are unmetafied (0x83 x → x^0x20)
      first. Malformed: ``: <digit>...`` that does not parse as the header.
fish  ``- cmd: <escaped command>`` then ``  when: <unix ts>`` and optional ``  paths:`` list.
      Malformed: a record whose ``when`` is not an integer, an empty ``cmd``, any other line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from orchflow_core.errors import InvalidArgumentError

SHELLS = ("bash", "zsh", "fish")
FORMATS = (*SHELLS, "json")

_MIN_TS = 1  # any positive Unix time
_MAX_TS = 4_102_444_800  # 2100-01-01: larger values are corrupt, not the future
_BASH_TS = re.compile(r"#(\d+)")
_BASH_TS_START = re.compile(r"#\d")  # bash's own test: comment char then a digit
_ZSH_HEADER = re.compile(r": (\d+):(\d+);(.*)", re.DOTALL)
_ZSH_HEADER_START = re.compile(r": \d")
_FISH_WHEN = re.compile(r"  when: (.*)")
_ZSH_META = 0x83


@dataclass(frozen=True, slots=True)
class ShellCommand:
    command: str
    ts: float | None  # None: the file did not say (plain bash/zsh lines)
    duration_s: float | None = None


@dataclass(slots=True)
class ParseResult:
    shell: str
    commands: list[ShellCommand] = field(default_factory=list)
    skipped: int = 0


def _valid_ts(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if _MIN_TS <= value <= _MAX_TS else None


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def parse_bash(data: bytes) -> ParseResult:
    result = ParseResult("bash")
    ts: int | None = None  # timestamp waiting for its command lines
    body: list[str] = []
    bad_record = False

    def flush() -> None:
        nonlocal ts, body, bad_record
        if ts is not None:
            text = "\n".join(body).strip()
            if text and not bad_record:
                result.commands.append(ShellCommand(text, float(ts)))
            else:
                result.skipped += 1
        ts, body, bad_record = None, [], False

    for raw in _lines(data):
        line = _decode(raw)
        if line is not None and _BASH_TS_START.match(line):
            flush()
            match = _BASH_TS.fullmatch(line)
            value = _valid_ts(match.group(1)) if match else None
            if value is None:
                result.skipped += 1
            else:
                ts = value
            continue
        if ts is not None:  # inside a timestamped (possibly multi-line) record
            if line is None:
                bad_record = True
            else:
                body.append(line)
        elif line is None:
            result.skipped += 1
        elif line.strip():
            result.commands.append(ShellCommand(line.strip(), None))
    flush()
    return result


def unmetafy(raw: bytes) -> bytes:
    """Undo zsh's history encoding: Meta (0x83) followed by c means c ^ 0x20."""
    if _ZSH_META not in raw:
        return raw
    out = bytearray()
    it = iter(raw)
    for byte in it:
        if byte == _ZSH_META:
            nxt = next(it, None)
            if nxt is not None:
                out.append(nxt ^ 0x20)
        else:
            out.append(byte)
    return bytes(out)


def parse_zsh(data: bytes) -> ParseResult:
    result = ParseResult("zsh")
    lines = _lines(data)
    i = 0
    while i < len(lines):
        # Gather one logical record: lines ending in a backslash continue.
        parts: list[str | None] = []
        while True:
            line = _decode(unmetafy(lines[i]))
            i += 1
            if line is not None and line.endswith("\\") and i < len(lines):
                parts.append(line[:-1])
                continue
            parts.append(line)
            break
        if any(part is None for part in parts):
            result.skipped += 1
            continue
        record = "\n".join(part for part in parts if part is not None)
        header = _ZSH_HEADER.fullmatch(record)
        if header:
            start = _valid_ts(header.group(1))
            command = header.group(3).strip()
            if start is None or not command:
                result.skipped += 1
            else:
                result.commands.append(
                    ShellCommand(command, float(start), float(int(header.group(2))))
                )
        elif _ZSH_HEADER_START.match(record):
            result.skipped += 1
        elif record.strip():
            result.commands.append(ShellCommand(record.strip(), None))
    return result


def fish_unescape(text: str) -> str:
    """fish writes ``\\`` as ``\\\\`` and a newline as ``\\n`` in ``cmd:`` values."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "\\n":
            out.append("\\" if text[i + 1] == "\\" else "\n")
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def parse_fish(data: bytes) -> ParseResult:
    result = ParseResult("fish")
    command: str | None = None
    ts: float | None = None
    bad_record = False

    def flush() -> None:
        nonlocal command, ts, bad_record
        if command is not None:
            if command and not bad_record:
                result.commands.append(ShellCommand(command, ts))
            else:
                result.skipped += 1
        command, ts, bad_record = None, None, False

    for raw in _lines(data):
        line = _decode(raw)
        if raw.startswith(b"- cmd:"):
            flush()
            command = "" if line is None else fish_unescape(line[len("- cmd:") :].strip())
            bad_record = line is None
            continue
        if line is None:
            if command is not None:
                bad_record = True
            else:
                result.skipped += 1
            continue
        when = _FISH_WHEN.fullmatch(line)
        if when and command is not None:
            value = _valid_ts(when.group(1).strip())
            if value is None:
                bad_record = True
            else:
                ts = float(value)
        elif command is not None and (line == "  paths:" or line.startswith("    - ")):
            pass  # files the command referred to: not needed for history
        elif line.strip():
            result.skipped += 1
    flush()
    return result


def parse_shell(data: bytes, shell: str) -> ParseResult:
    parsers = {"bash": parse_bash, "zsh": parse_zsh, "fish": parse_fish}
    try:
        parser = parsers[shell]
    except KeyError:
        raise ValueError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}") from None
    return parser(data)


def detect_format(name: str, head: bytes) -> str:
    """Guess ``bash``/``zsh``/``fish``/``json`` from a file name and its first bytes."""
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "json"
    lowered = name.lower()
    for shell in ("fish", "zsh", "bash"):
        if shell in lowered:
            return shell
    if lowered.endswith(".histfile"):
        return "zsh"
    for raw in _lines(head):
        line = raw.decode("utf-8", "replace")
        if not line.strip():
            continue
        if _ZSH_HEADER_START.match(line):
            return "zsh"
        if line.startswith("- cmd:"):
            return "fish"
        break
    return "bash"


def fill_missing_times(commands: list[ShellCommand], end: float) -> list[ShellCommand]:
    """Give untimed commands times that keep file order.

    An untimed command takes the time of the timed command before it; untimed commands
    before any timed one are spaced one second apart, ending one second before the first
    timed command (or at ``end``, the file's mtime, when nothing is timed).
    """
    first_timed = next((c.ts for c in commands if c.ts is not None), None)
    leading = next((i for i, c in enumerate(commands) if c.ts is not None), len(commands))
    anchor = first_timed if first_timed is not None else end + 1
    out: list[ShellCommand] = []
    previous: float | None = None
    for i, cmd in enumerate(commands):
        if cmd.ts is not None:
            previous = cmd.ts
            out.append(cmd)
        elif previous is not None:
            out.append(ShellCommand(cmd.command, previous, cmd.duration_s))
        else:
            out.append(ShellCommand(cmd.command, anchor - (leading - i), cmd.duration_s))
    return out


# ------------------------------------------------------------- orchflow's own JSON export

EXPORT_FORMAT = "orchflow-history"
EXPORT_VERSION = 1
EXPORT_FIELDS = ("command", "cwd", "pane_type", "exit_code", "duration_s", "ts", "source")

# One run as stored: (command, cwd, pane_type, exit_code, duration_s, ts, source)
Run = tuple[str, str | None, str | None, int | None, float | None, float, str]


def encode_export(runs: Iterable[Run], exported_at: float) -> bytes:
    entries = [dict(zip(EXPORT_FIELDS, run, strict=True)) for run in runs]
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": exported_at,
        "entries": entries,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _optional(entry: dict[str, Any], key: str, kinds: tuple[type, ...]) -> Any:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(key)
    return value


def _run_from_entry(entry: Any) -> Run:
    if not isinstance(entry, dict):
        raise ValueError("entry")
    command = entry.get("command")
    ts = entry.get("ts")
    if not isinstance(command, str) or not command.strip() or len(command) > 65_536:
        raise ValueError("command")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not _MIN_TS <= ts <= _MAX_TS:
        raise ValueError("ts")
    duration = _optional(entry, "duration_s", (int, float))
    if duration is not None and duration < 0:
        raise ValueError("duration_s")
    cwd = _optional(entry, "cwd", (str,)) or None
    return (
        command.strip(),
        None if cwd is None else os.path.normpath(cwd),
        _optional(entry, "pane_type", (str,)) or None,
        _optional(entry, "exit_code", (int,)),
        None if duration is None else float(duration),
        float(ts),
        _optional(entry, "source", (str,)) or "json",
    )


def decode_export(data: bytes, name: str) -> tuple[list[Run], int]:
    """Runs from an export file, and how many entries were malformed (skipped).

    A file that is not JSON, or not an orchflow export, raises InvalidArgumentError naming
    ``name`` (and the line and column for a syntax error): callers write nothing then.
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"{name}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            path=name,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise InvalidArgumentError(
            f"{name}: not an orchflow history export (expected an object with "
            f'"format": "{EXPORT_FORMAT}")',
            path=name,
        )
    version = document.get("version")
    if version != EXPORT_VERSION:
        raise InvalidArgumentError(
            f"{name}: export version {version!r} is not supported (expected {EXPORT_VERSION})",
            path=name,
        )
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise InvalidArgumentError(f'{name}: "entries" must be a list', path=name)
    runs: list[Run] = []
    skipped = 0
    for entry in entries:
        try:
            runs.append(_run_from_entry(entry))
        except ValueError:
            skipped += 1
    return runs, skipped
