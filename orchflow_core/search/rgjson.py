"""ripgrep's ``--json`` message stream turned into ``Match`` objects. Pure: lines in, matches out.

ripgrep prints one JSON object per line: ``begin`` / ``match`` / ``context`` / ``end`` per
file (never interleaved between files, even with several threads) and one ``summary``.
With context lines a match is complete only once the lines after it have been seen, so
it is held until a later line (or the file's ``end``) closes it.

Columns and submatch offsets are UTF-8 byte offsets into ``text``, as Neovim counts them.
"""

from __future__ import annotations

import base64
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

DEFAULT_MAX_LINE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Match:
    """One matching line. ``line`` and ``column`` are 1-based; ``column`` is a byte column.

    ``submatches`` are ``(start, end)`` byte offsets into ``text`` (end exclusive).
    """

    path: str
    line: int
    column: int
    text: str
    submatches: tuple[tuple[int, int], ...]
    context_before: tuple[str, ...] = ()
    context_after: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "text": self.text,
            "submatches": [list(s) for s in self.submatches],
            "context_before": list(self.context_before),
            "context_after": list(self.context_after),
        }


@dataclass(slots=True)
class RgStats:
    """ripgrep's own ``summary`` figures (absent if ripgrep was stopped early)."""

    searches: int = 0
    searches_with_match: int = 0
    matched_lines: int = 0
    matches: int = 0
    elapsed_ms: float = 0.0


@dataclass(slots=True)
class _Open:
    path: str
    line: int
    text: str
    submatches: tuple[tuple[int, int], ...]
    before: tuple[str, ...]
    after: list[str] = field(default_factory=list)

    def close(self) -> Match:
        column = self.submatches[0][0] + 1 if self.submatches else 1
        return Match(
            self.path, self.line, column, self.text, self.submatches, self.before, tuple(self.after)
        )


class RgJsonParser:
    """Feed ripgrep ``--json`` lines; get finished ``Match`` objects back in file order."""

    def __init__(self, *, context: int = 0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.context = context
        self.max_line_bytes = max_line_bytes
        self.stats: RgStats | None = None
        self.files_with_matches = 0
        self._open: deque[_Open] = deque()
        self._recent: deque[tuple[int, str]] = deque(maxlen=max(context, 1))

    def feed(self, raw: bytes) -> list[Match]:
        """One line of ripgrep output (without or with its newline)."""
        if not raw.strip():
            return []
        msg = orjson.loads(raw)
        kind = msg.get("type")
        data = msg.get("data", {})
        if kind == "match" or kind == "context":
            return self._line(kind, data)
        if kind == "begin":
            self._recent.clear()
            return []
        if kind == "end":
            if data.get("stats", {}).get("matched_lines", 0):
                self.files_with_matches += 1
            return self.finish()
        if kind == "summary":
            s = data.get("stats", {})
            elapsed = data.get("elapsed_total", {})
            self.stats = RgStats(
                searches=s.get("searches", 0),
                searches_with_match=s.get("searches_with_match", 0),
                matched_lines=s.get("matched_lines", 0),
                matches=s.get("matches", 0),
                elapsed_ms=elapsed.get("secs", 0) * 1000 + elapsed.get("nanos", 0) / 1e6,
            )
        return []

    def finish(self) -> list[Match]:
        """Close every match still waiting for after-context (end of file or of stream)."""
        out = [m.close() for m in self._open]
        self._open.clear()
        return out

    def _line(self, kind: str, data: dict[str, Any]) -> list[Match]:
        number = int(data.get("line_number") or 0)
        text, cut = self._text(data.get("lines", {}))
        done: list[Match] = []
        # This line is after-context for every open match within reach of it.
        while self._open and self._open[0].line + self.context < number:
            done.append(self._open.popleft().close())
        for m in self._open:
            m.after.append(text)
        while self._open and self._open[0].line + self.context <= number:
            done.append(self._open.popleft().close())
        if kind == "match":
            subs = tuple(
                (int(s["start"]), min(int(s["end"]), cut))
                for s in data.get("submatches", ())
                if int(s["start"]) < cut
            )
            before = tuple(t for n, t in self._recent if number - self.context <= n < number)
            opened = _Open(_path(data.get("path", {})), number, text, subs, before)
            if self.context:
                self._open.append(opened)
            else:
                done.append(opened.close())
        if self.context:
            self._recent.append((number, text))
        return done

    def _text(self, lines: dict[str, Any]) -> tuple[str, int]:
        """The line without its terminator, cut to ``max_line_bytes``; and the cut offset."""
        if "text" in lines:
            text: str = lines["text"]
        else:
            text = base64.b64decode(lines.get("bytes", "")).decode("utf-8", "replace")
        text = text.rstrip("\n").removesuffix("\r")
        cut = self.max_line_bytes
        if len(text) * 4 > cut:  # only then can the UTF-8 form be longer than the cap
            encoded = text.encode()
            if len(encoded) > cut:
                text = encoded[:cut].decode("utf-8", "ignore")
                cut = len(text.encode())
        return text, cut


def _path(obj: dict[str, Any]) -> str:
    if "text" in obj:
        path: str = obj["text"]
    else:  # not UTF-8: keep the bytes recoverable with os.fsencode
        path = os.fsdecode(base64.b64decode(obj.get("bytes", "")))
    return path.removeprefix("./")
