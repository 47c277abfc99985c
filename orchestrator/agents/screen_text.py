"""A TUI's output stream as the text a person reads, for screen patterns.

Real TUIs rarely write plain lines (checked 2026-11-30, doc/agents.md "Checked against"):

- Claude Code 2.1.197 puts each word at its column with CHA (``ESC[<col>G``) instead of
  writing spaces: dropping the sequence turns "esc to interrupt" into "esctointerrupt".
- Codex 0.171.0 (ratatui) and opencode 1.18.33 place every line with CUP
  (``ESC[<row>;<col>H``) and write no line feed at all; opencode also places the words of one
  line with CUP on the same row.
- Gemini CLI 0.61.0 (Ink) writes lines with CR LF and erases with cursor-up.

So a horizontal move (CUF, CHA, HPA, or CUP/VPA to the same row) is a space, a move to
another row (CUP/VPA to a new row, cursor up/down/next/previous line) is a line feed, every
other escape sequence is dropped, and a run of spaces is one space (opencode writes "esc ",
then moves: patterns are written with single spaces). A UTF-8 character or an escape
sequence cut at a chunk's end is kept for the next chunk.
"""

from __future__ import annotations

import codecs
import re

MAX_PENDING = 256  # characters of an unfinished escape sequence kept for the next chunk
_CSI = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\n")  # and line feeds: the row is unknown
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_CHARSET = re.compile(r"\x1b[()*+\-./][ -~]")  # designate a character set: ESC ( B
_ESC = re.compile(r"\x1b[ -~]")  # any other two-character escape
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"[ \t]{2,}")  # a layout's runs of spaces: one, as a person reads it
_UNFINISHED = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*(?:\x1b)?|[()*+\-./])?\Z")
_SPACE = frozenset("CG`")  # cursor forward, column absolute, position absolute
_LINE = frozenset("ABEF")  # cursor up, down, next line, previous line


class ScreenText:
    """Feed it a pane's output chunks; it returns each chunk's text (see the docstring)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""
        self._row: int | None = None  # the row of the last absolute move, if known

    def reset(self) -> None:
        """After a gap in the stream: nothing carries over."""
        self._decoder.reset()
        self._pending = ""
        self._row = None

    def feed(self, chunk: bytes) -> str:
        return self.feed_text(self._decoder.decode(chunk))

    def feed_text(self, text: str) -> str:
        text = self._pending + text
        self._pending = ""
        cut = _UNFINISHED.search(text)
        if cut is not None and len(text) - cut.start() <= MAX_PENDING:
            text, self._pending = text[: cut.start()], text[cut.start() :]
        text = _OSC.sub("", text)
        text = _CSI.sub(self._move, text)
        text = _CHARSET.sub("", text)
        text = _ESC.sub("", text)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return _SPACES.sub(" ", _CONTROL.sub("", text))

    def _move(self, match: re.Match[str]) -> str:
        params, final = match.group(1), match.group(2)
        if final is None:  # a line feed
            self._row = None
            return "\n"
        if final in _SPACE:
            return " "
        if final in _LINE:
            self._row = None
            return "\n"
        if final in "Hfd":
            if params.startswith(("?", ">", "<", "=")):
                return ""
            first = params.split(";", 1)[0]
            row = int(first) if first.isdigit() else 1
            same = row == self._row
            self._row = row
            return " " if same else "\n"
        return ""


def clean(text: str) -> str:
    """One piece of terminal output as text (no state carried over)."""
    return ScreenText().feed_text(text)
