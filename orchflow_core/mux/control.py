"""tmux control-mode protocol (``tmux -C``), with no I/O: bytes in, typed events out.

    parser = ControlParser()
    line = parser.command("send-keys", "-l", "-t", "%3", "--", text)   # bytes to write
    for event in parser.feed(data_read_from_tmux): ...

Replies: tmux answers each command line with a ``%begin t n flags`` ... ``%end|%error
t n flags`` block, in the order the lines were sent; blocks with flags bit 0 set come
from our commands and are matched FIFO to ``command()`` calls (``Reply.seq``). Other
blocks (the attach command's own) are ignored. ``%output %N data`` carries pane bytes
with every byte < 32 and ``\\`` written as ``\\ooo``, which ``codecs.escape_decode``
undoes at C speed (40x a regex; shared/research/perf.md §2).

Quoting: every argument is written in double quotes; ``\\``, ``"``, ``$`` and control
characters and ``~`` are escaped (``\\ooo``), so ``;``, ``#``, ``{``, ``~`` and leading ``-`` reach
the command as plain text. NUL cannot be expressed on a tmux command line (tmux
strings are C strings): ``quote_arg`` refuses it.
"""

from __future__ import annotations

import codecs
import collections
from dataclasses import dataclass

_ESCAPES = {c: f"\\{c:03o}" for c in range(1, 32)}
# "~" too: tmux expands a leading "~" even inside double quotes.
_ESCAPES.update(
    {0x7F: "\\177", ord("\\"): "\\\\", ord('"'): '\\"', ord("$"): "\\$", ord("~"): "\\176"}
)
_TRANSLATE = str.maketrans(_ESCAPES)


def quote_arg(arg: str) -> str:
    """``arg`` as one tmux command-line word, taken literally. ValueError for NUL."""
    if "\x00" in arg:
        raise ValueError("a tmux command argument cannot contain NUL")
    return '"' + arg.translate(_TRANSLATE) + '"'


def format_escape(text: str) -> str:
    """Protect ``text`` passed to an option tmux expands as a format (``-c``, session names)."""
    return text.replace("#", "##")


def encode_command(name: str, *args: str) -> bytes:
    """One control-mode command line (``name`` is ours, never user input)."""
    if not name.replace("-", "").isalpha():
        raise ValueError(f"not a tmux command name: {name!r}")
    parts = [name, *(quote_arg(a) for a in args)]
    return (" ".join(parts) + "\n").encode("utf-8")


def unescape_output(data: bytes) -> bytes:
    """Pane bytes from the escaped payload of ``%output``."""
    if b"\\" not in data:
        return data
    return codecs.escape_decode(data)[0]


def escape_output(data: bytes) -> bytes:
    """What tmux writes for pane bytes (the inverse of ``unescape_output``; for tests)."""
    out = bytearray()
    for b in data:
        if b < 32 or b == 0x5C:
            out += f"\\{b:03o}".encode()
        else:
            out.append(b)
    return bytes(out)


# -- events ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to our ``seq``-th command: ``ok`` is False for ``%error``."""

    seq: int
    ok: bool
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class Output:
    pane_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Exit:
    """The server or this client is going away; ``reason`` as tmux gave it."""

    reason: str


@dataclass(frozen=True, slots=True)
class SessionChanged:
    """This client is now attached to ``session_id`` (``$3``) called ``name``."""

    session_id: str
    name: str


@dataclass(frozen=True, slots=True)
class SessionRenamed:
    session_id: str
    name: str


@dataclass(frozen=True, slots=True)
class SessionsChanged:
    """A session was created or destroyed."""


@dataclass(frozen=True, slots=True)
class WindowAdd:
    window_id: str
    unlinked: bool  # not in this client's session


@dataclass(frozen=True, slots=True)
class WindowClose:
    window_id: str
    unlinked: bool


@dataclass(frozen=True, slots=True)
class WindowRenamed:
    window_id: str
    name: str
    unlinked: bool


@dataclass(frozen=True, slots=True)
class PaneModeChanged:
    pane_id: str


@dataclass(frozen=True, slots=True)
class WindowPaneChanged:
    window_id: str
    pane_id: str


@dataclass(frozen=True, slots=True)
class LayoutChange:
    window_id: str
    layout: str


@dataclass(frozen=True, slots=True)
class Notification:
    """Any other ``%name args...`` line (``%client-detached``, ``%pause`` ...)."""

    name: str
    args: tuple[str, ...]


Event = (
    Reply
    | Output
    | Exit
    | SessionChanged
    | SessionRenamed
    | SessionsChanged
    | WindowAdd
    | WindowClose
    | WindowRenamed
    | PaneModeChanged
    | WindowPaneChanged
    | LayoutChange
    | Notification
)


class ProtocolError(Exception):
    """tmux sent something the protocol does not allow (a reply nobody asked for)."""


def _notification(line: str) -> Event:
    name, _, rest = line.partition(" ")
    args = rest.split(" ") if rest else []
    n = len(args)
    match name:
        case "%exit":
            return Exit(rest)
        case "%session-changed" if n >= 2:
            return SessionChanged(args[0], rest.split(" ", 1)[1])
        case "%session-renamed" if n >= 2:
            return SessionRenamed(args[0], rest.split(" ", 1)[1])
        case "%sessions-changed":
            return SessionsChanged()
        case "%window-add" | "%unlinked-window-add" if n >= 1:
            return WindowAdd(args[0], unlinked=name.startswith("%unlinked"))
        case "%window-close" | "%unlinked-window-close" if n >= 1:
            return WindowClose(args[0], unlinked=name.startswith("%unlinked"))
        case "%window-renamed" | "%unlinked-window-renamed" if n >= 2:
            return WindowRenamed(
                args[0], rest.split(" ", 1)[1], unlinked=name.startswith("%unlinked")
            )
        case "%pane-mode-changed" if n >= 1:
            return PaneModeChanged(args[0])
        case "%window-pane-changed" if n >= 2:
            return WindowPaneChanged(args[0], args[1])
        case "%layout-change" if n >= 2:
            return LayoutChange(args[0], args[1])
    return Notification(name[1:], tuple(args))


class ControlParser:
    """Incremental parser of a control client's stdout, plus the FIFO of commands in flight."""

    def __init__(self) -> None:
        self._buf = b""
        self._block: tuple[bytes, list[str]] | None = None  # ("t n flags", lines)
        self._block_ours = False
        self._pending: collections.deque[int] = collections.deque()
        self._next_seq = 0

    @property
    def pending(self) -> int:
        """Commands sent whose reply has not arrived."""
        return len(self._pending)

    def command(self, name: str, *args: str) -> tuple[int, bytes]:
        """Register a command; returns its ``seq`` and the bytes to write to tmux."""
        line = encode_command(name, *args)
        return self.register(), line

    def register(self) -> int:
        """Register a raw command line written by the caller; returns its ``seq``."""
        self._next_seq += 1
        self._pending.append(self._next_seq)
        return self._next_seq

    def feed(self, data: bytes) -> list[Event]:
        """Events from ``data`` (any split of the stream); incomplete lines wait for more."""
        buf = self._buf + data if self._buf else data
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        events: list[Event] = []
        for raw in lines:
            event = self._line(raw[:-1] if raw.endswith(b"\r") else raw)
            if event is not None:
                events.append(event)
        return events

    def _line(self, raw: bytes) -> Event | None:
        block = self._block
        if block is not None:
            tag, lines = block
            if raw.startswith((b"%end ", b"%error ")) and raw.split(b" ", 1)[1] == tag:
                self._block = None
                if not self._block_ours:
                    return None
                if not self._pending:
                    raise ProtocolError(f"reply block {tag!r} but no command is pending")
                return Reply(self._pending.popleft(), raw.startswith(b"%end"), tuple(lines))
            lines.append(raw.decode("utf-8", "replace"))
            return None
        if raw.startswith(b"%output "):
            pane, _, payload = raw[8:].partition(b" ")
            return Output(pane.decode("ascii", "replace"), unescape_output(payload))
        if raw.startswith(b"%begin "):
            tag = raw[7:]
            fields = tag.split(b" ")
            self._block = (tag, [])
            self._block_ours = len(fields) >= 3 and fields[2].isdigit() and int(fields[2]) & 1 == 1
            return None
        if raw.startswith(b"%"):
            return _notification(raw.decode("utf-8", "replace"))
        if not raw:
            return None
        # A line outside any block that is not a notification: tmux never sends one,
        # except the DCS introducer of -CC mode, which we do not use.
        return Notification("unknown", (raw.decode("utf-8", "replace"),))

    def fail_pending(self) -> list[int]:
        """Forget every command in flight (the client died); returns their seqs."""
        seqs = list(self._pending)
        self._pending.clear()
        self._block = None
        self._buf = b""
        return seqs
