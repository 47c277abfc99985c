"""A ``MuxBackend`` on native pseudo-terminals: no tmux, panes live as long as this process.

    backend = PtyBackend(events=bus)
    await backend.create_session("work")
    pane = await backend.create_pane("work", command="make test")
    async with await backend.subscribe(pane.pane_id) as sub: ...

Sessions are in-memory groups; pane ids are ``pty:<n>``, session ids ``pty:$<n>``.
There is no screen: ``split`` and ``target`` are checked but do not lay anything
out, and ``focus_pane`` only records the session's current pane.

Command completion (``run``): the line typed is the one the tmux backend types
(``shell_integration.wrap_command``: the command in a subshell that turns C-c into
exit 130, then a printf of an OSC marker with a token and ``$?``); any POSIX shell
(bash, zsh, dash). Unlike tmux, this backend takes the marker the shell prints out of
the byte stream before the ring buffer (``MarkerScanner``), so subscribers and
``capture`` never see it; the echoed command line (with the printf text) stays.

``capture`` versus tmux: with no terminal emulator the text is the ring buffer's
last ``ring_bytes`` with escape sequences and control characters removed and
``\\r`` dropped, not a rendered screen: full-screen programs (vim, top) come out as
the text they drew, and backspaces or cursor moves are not applied. The last
``rows`` lines stand for the visible screen, earlier ones for history.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from orchflow_core.errors import (
    BackendError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.events import EventBus
from orchflow_core.mux.backend import (
    SPLITS,
    CommandHandle,
    PaneInfo,
    SessionInfo,
    Split,
)
from orchflow_core.mux.keys import KEY_BYTES, Key, parse_key
from orchflow_core.mux.pty_process import PtyProcess
from orchflow_core.mux.shell_integration import (
    MARKER_PREFIX,
    ShellMark,
    ShellMarkScanner,
    integrated_launch,
    new_token,
    wrap_command,
)
from orchflow_core.mux.stream import (
    DEFAULT_MAX_QUEUE,
    OutputEventCoalescer,
    OutputStream,
    OutputSubscription,
)

log = logging.getLogger(__name__)

MARKER_MAX = len(MARKER_PREFIX) + 64 + 1 + 6 + 1  # prefix, token, ";", exit code, BEL
_MARKER_BODY = re.compile(rb"([0-9a-f]{1,64});(-?\d{1,5})")  # as shell_integration prints it
MAX_WINDOW = 10_000


class MarkerScanner:
    """Finds and removes ``MARKER_PREFIX <token> ; <code> BEL`` (the run() marker) in a stream.

    Pure: ``feed(chunk)`` returns the bytes to show and the ``(token, exit_code)``
    markers found. A chunk ending inside what may be a marker keeps that tail until
    the next ``feed`` (or ``flush`` at the end of the stream), so markers split
    across reads are still found. Anything that does not parse passes through.
    """

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, list[tuple[str, int]]]:
        buf = self._held + data if self._held else data
        self._held = b""
        out: list[bytes] = []
        found: list[tuple[str, int]] = []
        pos = 0
        while (start := buf.find(MARKER_PREFIX, pos)) >= 0:
            body_at = start + len(MARKER_PREFIX)
            end = buf.find(b"\x07", body_at, start + MARKER_MAX)
            if end < 0 and len(buf) - start < MARKER_MAX:
                out.append(buf[pos:start])  # maybe a marker cut by the read: wait for more
                self._held = buf[start:]
                return b"".join(out), found
            match = _MARKER_BODY.fullmatch(buf, body_at, end) if end >= 0 else None
            if match is None:  # not ours after all: show it
                out.append(buf[pos : start + 1])
                pos = start + 1
                continue
            out.append(buf[pos:start])
            found.append((match[1].decode(), int(match[2])))
            pos = end + 1
        rest = buf[pos:]
        # Hold a tail that is the start of a marker prefix ("\x1b", "\x1b]77" ...).
        esc = rest.rfind(b"\x1b", max(0, len(rest) - len(MARKER_PREFIX) + 1))
        if esc >= 0 and MARKER_PREFIX.startswith(rest[esc:]):
            self._held = rest[esc:]
            rest = rest[:esc]
        out.append(rest)
        return b"".join(out), found

    def flush(self) -> bytes:
        """What is held back: the stream ended, so it was not a marker."""
        held, self._held = self._held, b""
        return held


_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    rb"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    rb"|\x1b[ -/]*[0-~]?"  # the rest: ESC ( B, ESC =, ESC 7 ...
    rb"|[\x00-\x08\x0b-\x1f\x7f]"  # control characters but \t and \n
)


def screen_text(raw: bytes, *, rows: int, start: int | None = None, cut: bool = False) -> str:
    """Plain text of raw pty output, from line ``start`` as ``capture`` defines it.

    ``cut``: the bytes begin mid-stream (the ring wrapped): drop the partial first line.
    """
    if cut:
        raw = raw[raw.find(b"\n") + 1 :]
    lines = _ESCAPES.sub(b"", raw).decode("utf-8", "replace").split("\n")
    if start is not None:
        lines = lines[max(0, len(lines) - rows + start) :]
    while lines and not lines[-1].strip():  # as tmux's capture: no trailing blank lines
        lines.pop()
    return "\n".join(lines)


@dataclass(eq=False)
class _Session:
    id: str
    name: str
    cwd: str | None
    panes: list[str] = field(default_factory=list)
    focused: str | None = None


@dataclass(eq=False)
class _Pane:
    pane_id: str
    orchflow_id: str
    session: str
    name: str
    pane_type: str
    cwd: str
    label: str  # what was started, shown as ``command`` when /proc cannot tell
    rows: int
    cols: int
    stream: OutputStream
    scanner: MarkerScanner = field(default_factory=MarkerScanner)
    marks: ShellMarkScanner = field(default_factory=ShellMarkScanner)
    shell: str = ""  # the shell started with orchflow's shell integration, if any
    pending: dict[str, CommandHandle] = field(default_factory=dict)
    proc: PtyProcess | None = None
    closing: asyncio.Task[None] | None = None


class PtyBackend:
    """``MuxBackend`` over pseudo-terminals this process owns (see the module docstring).

    ``ring_bytes``: scrollback kept per pane; ``rows``/``cols``: initial window size;
    ``close_grace_s``: how long a pane's programs get after SIGHUP before SIGKILL;
    ``write_timeout_s``: how long ``send_text``/``run`` wait for a program to take
    its input; ``term``: TERM for programs unless ``env`` sets it.
    """

    def __init__(
        self,
        events: EventBus | None = None,
        ring_bytes: int = 65536,
        *,
        rows: int = 24,
        cols: int = 80,
        close_grace_s: float = 2.0,
        write_timeout_s: float = 10.0,
        term: str = "xterm-256color",
        shell: Sequence[str] | None = None,
        shell_integration: bool = True,
    ) -> None:
        """``shell``: the argv of a pane opened without a command (default: ``$SHELL``,
        with orchflow's shell integration for bash, zsh and fish unless
        ``shell_integration`` is false)."""
        _check_size(rows, cols)
        self._shell = list(shell) if shell else None
        self._want_integration = shell_integration and shell is None
        self.shell_integration = (
            "off: a shell argv was given"
            if shell is not None
            else ("on" if shell_integration else "off: terminal.shell_integration = false")
        )
        # Called with (pane id, mark) for every shell-integration mark (the manager's runs).
        self.on_mark: Callable[[str, ShellMark], None] | None = None
        self._events = events
        self._ring_bytes = ring_bytes
        self._rows, self._cols = rows, cols
        self._close_grace_s = close_grace_s
        self._write_timeout_s = write_timeout_s
        self._term = term
        self._sessions: dict[str, _Session] = {}
        self._panes: dict[str, _Pane] = {}
        self._next_session = 0
        self._next_pane = 0
        self._coalescer: OutputEventCoalescer | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        """Nothing to connect to; makes a closed backend usable again. Idempotent."""
        self._closed = False

    async def close(self) -> None:
        """Close every pane (its programs get SIGHUP, then SIGKILL) and forget all sessions."""
        self._closed = True
        await asyncio.gather(*(self._close(p) for p in list(self._panes.values())))
        self._sessions.clear()
        if self._coalescer is not None:
            self._coalescer.close()
            self._coalescer = None

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError("the pty backend is closed; call start() first")

    # -- sessions ------------------------------------------------------------
    async def create_session(self, name: str, *, cwd: str | None = None) -> SessionInfo:
        self._check_open()
        if not name or any(c in name for c in ":.\n"):
            raise InvalidArgumentError(
                f"bad session name {name!r}: non-empty, without ':', '.' or newlines", name=name
            )
        if name in self._sessions:
            raise ConflictError(f"session {name!r} exists already", session=name)
        if cwd is not None:
            cwd = _check_dir(cwd)
        self._next_session += 1
        session = _Session(f"pty:${self._next_session}", name, cwd)
        self._sessions[name] = session
        return SessionInfo(name, session.id)

    async def list_sessions(self) -> list[SessionInfo]:
        return [SessionInfo(s.name, s.id) for s in self._sessions.values()]

    async def rename_session(self, old: str, new: str) -> SessionInfo:
        session = self._session(old)
        if new != old:
            if not new or any(c in new for c in ":.\n"):
                raise InvalidArgumentError(f"bad session name {new!r}", name=new)
            if new in self._sessions:
                raise ConflictError(f"session {new!r} exists already", session=new)
            del self._sessions[old]
            session.name = new
            self._sessions[new] = session
            for pane_id in session.panes:
                self._panes[pane_id].session = new
        return SessionInfo(new, session.id)

    async def kill_session(self, name: str) -> None:
        session = self._session(name)
        await asyncio.gather(*(self._close(self._panes[p]) for p in list(session.panes)))
        self._sessions.pop(session.name, None)

    def _session(self, name: str) -> _Session:
        try:
            return self._sessions[name]
        except KeyError:
            raise NotFoundError(f"no session {name!r}", session=name) from None

    # -- panes ---------------------------------------------------------------
    async def create_pane(
        self,
        session: str,
        *,
        name: str | None = None,
        pane_type: str = "shell",
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        command: str | None = None,
        split: Split = "window",
        target: str | None = None,
    ) -> PaneInfo:
        """Start ``command`` (via ``$SHELL -c``, like tmux) or the user's shell on a new pty."""
        self._check_open()
        owner = self._session(session)
        if split not in SPLITS:
            raise InvalidArgumentError(
                f"bad split {split!r}; expected one of {SPLITS}", split=split
            )
        if target is not None and self._pane(target).session != session:
            raise InvalidArgumentError(
                f"pane {target} is not in session {session!r}", pane_id=target, session=session
            )
        workdir = _check_dir(cwd or owner.cwd or os.getcwd())
        full_env = {**os.environ, "TERM": self._term, **(env or {})}
        shell = full_env.get("SHELL") or login_shell()
        argv = [shell, "-c", command] if command else (self._shell or [shell])
        launch = integrated_launch(shell) if not command and self._want_integration else None
        if launch is not None:
            argv = launch.argv
            full_env.update(launch.env)
        self._next_pane += 1
        pane = _Pane(
            pane_id=f"pty:{self._next_pane}",
            orchflow_id=uuid.uuid4().hex,
            session=session,
            name=name or pane_type,
            pane_type=pane_type,
            cwd=workdir,
            label=os.path.basename((command or shell).split()[0]),
            rows=self._rows,
            cols=self._cols,
            stream=OutputStream(ring_bytes=self._ring_bytes),
            shell=launch.shell if launch is not None else "",
        )
        pane.proc = PtyProcess.spawn(
            argv,
            cwd=workdir,
            env=full_env,
            rows=pane.rows,
            cols=pane.cols,
            on_output=lambda data: self._on_output(pane, data),
            on_eof=lambda: self._on_eof(pane),
            on_exit=lambda code: self._on_exit(pane, code),
        )
        self._panes[pane.pane_id] = pane
        owner.panes.append(pane.pane_id)
        owner.focused = pane.pane_id
        self._publish("pane.created", pane, name=pane.name, pane_type=pane_type)
        return self._info(pane, live=False)  # the program may not have exec'd yet

    async def list_panes(self, session: str | None = None) -> list[PaneInfo]:
        if session is not None:
            return [self._info(self._panes[p]) for p in self._session(session).panes]
        return [self._info(p) for p in self._panes.values()]

    async def get_pane(self, pane_id: str) -> PaneInfo:
        return self._info(self._pane(pane_id))

    async def resize_pane(
        self, pane_id: str, *, width: int | None = None, height: int | None = None
    ) -> None:
        pane = self._pane(pane_id)
        rows = pane.rows if height is None else height
        cols = pane.cols if width is None else width
        _check_size(rows, cols)
        if pane.proc is not None and pane.proc.alive:
            pane.proc.resize(rows, cols)
        pane.rows, pane.cols = rows, cols

    async def focus_pane(self, pane_id: str) -> None:
        """No screen to move a cursor on: records the session's current pane."""
        pane = self._pane(pane_id)
        self._sessions[pane.session].focused = pane_id

    async def close_pane(self, pane_id: str) -> None:
        await self._close(self._pane(pane_id))

    def _pane(self, pane_id: str) -> _Pane:
        try:
            return self._panes[pane_id]
        except KeyError:
            raise NotFoundError(f"no pane {pane_id!r}", pane_id=pane_id) from None

    async def _close(self, pane: _Pane) -> None:
        if pane.closing is None:
            pane.closing = asyncio.ensure_future(self._terminate(pane))
        await asyncio.shield(pane.closing)

    async def _terminate(self, pane: _Pane) -> None:
        if pane.proc is not None:
            await pane.proc.terminate(grace_s=self._close_grace_s)
        self._end_stream(pane)
        self._fail_pending(pane, f"pane {pane.pane_id} was closed")
        self._panes.pop(pane.pane_id, None)
        session = self._sessions.get(pane.session)
        if session is not None and pane.pane_id in session.panes:
            session.panes.remove(pane.pane_id)
            if session.focused == pane.pane_id:
                session.focused = session.panes[-1] if session.panes else None
        self._publish("pane.closed", pane, exit_code=_exit_code(pane))

    def _info(self, pane: _Pane, *, live: bool = True) -> PaneInfo:
        proc = pane.proc
        alive = proc is not None and proc.alive
        command, cwd = pane.label, pane.cwd
        group = proc.foreground_pgid() if proc is not None and alive and live else None
        if group is not None:  # what runs in the foreground now, as tmux reports it
            command = _read_proc(f"/proc/{group}/comm") or command
            cwd = _readlink(f"/proc/{group}/cwd") or cwd
        return PaneInfo(
            pane_id=pane.pane_id,
            orchflow_id=pane.orchflow_id,
            session=pane.session,
            name=pane.name,
            pane_type=pane.pane_type,
            cwd=cwd,
            command=command,
            dead=not alive,
            exit_code=_exit_code(pane),
            pid=proc.pid if proc is not None else None,
            shell=pane.shell,
        )

    # -- input ---------------------------------------------------------------
    async def send_text(
        self, pane_id: str, text: str, *, paste: bool = False, enter: bool = False
    ) -> None:
        """Write ``text`` (UTF-8) to the pty as is; waits until the program took it all.
        ``paste``: between the bracketed-paste marks (for a line editor: orchflow's
        integrated shells read them)."""
        data = text.encode("utf-8", "surrogateescape")
        if paste:
            data = b"\x1b[200~" + data + b"\x1b[201~"
        if enter:
            data += KEY_BYTES[Key.ENTER]
        await self._write(self._pane(pane_id), data)

    async def send_keys(self, pane_id: str, *keys: Key) -> None:
        pane = self._pane(pane_id)
        data = b"".join(KEY_BYTES[k if isinstance(k, Key) else parse_key(k)] for k in keys)
        await self._write(pane, data)

    async def _write(self, pane: _Pane, data: bytes) -> None:
        proc = pane.proc
        if pane.closing is not None:
            raise ConflictError(f"pane {pane.pane_id} is being closed", pane_id=pane.pane_id)
        if proc is None or not proc.alive:
            raise ConflictError(
                f"pane {pane.pane_id} has exited (code {_exit_code(pane)}): nothing reads input",
                pane_id=pane.pane_id,
            )
        if not data:
            return
        request = proc.write(data)
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await asyncio.shield(request.future)
        except TimeoutError:
            request.future.cancel()  # drop the rest rather than type it later
            raise TimeoutError_(
                f"pane {pane.pane_id} took only {request.written} of {request.total} bytes"
                f" within {self._write_timeout_s} s; is its program reading input?",
                pane_id=pane.pane_id,
                timeout=self._write_timeout_s,
            ) from None

    async def run(self, pane_id: str, cmd: str) -> CommandHandle:
        """Run ``cmd`` in the pane's shell, in a subshell (see ``shell_integration``)."""
        pane = self._pane(pane_id)
        if not isinstance(cmd, str) or not cmd.strip() or "\x00" in cmd:
            raise InvalidArgumentError(f"bad command {cmd!r}: expected non-empty text without NUL")
        token = new_token()

        async def interrupt() -> None:
            await self.send_keys(pane_id, Key.C_C)

        def forget(handle: CommandHandle) -> None:
            pane.pending.pop(handle.token, None)

        handle = CommandHandle(pane_id, cmd, token, interrupt=interrupt, on_cancel=forget)
        pane.pending[token] = handle
        try:
            await self._write(pane, wrap_command(cmd, token).encode() + KEY_BYTES[Key.ENTER])
        except BaseException:
            pane.pending.pop(token, None)
            raise
        return handle

    # -- output --------------------------------------------------------------
    async def subscribe(
        self, pane_id: str, *, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> OutputSubscription:
        return self._pane(pane_id).stream.subscribe(max_queue=max_queue)

    async def capture(self, pane_id: str, *, start: int | None = None) -> str:
        """The scrollback as plain text (see the module docstring for how it differs from tmux)."""
        pane = self._pane(pane_id)
        stream = pane.stream
        cut = stream.total_bytes > stream.ring_bytes
        return screen_text(stream.snapshot(), rows=pane.rows, start=start, cut=cut)

    def _on_output(self, pane: _Pane, data: bytes) -> None:
        if self.on_mark is not None:
            for mark in pane.marks.feed(data):
                self.on_mark(pane.pane_id, mark)
        shown, markers = pane.scanner.feed(data)
        if shown:
            pane.stream.feed(shown)
            if self._events is not None:
                if self._coalescer is None:
                    self._coalescer = OutputEventCoalescer(self._events.publish)
                self._coalescer.note(pane.pane_id, len(shown), pane.stream.total_bytes)
        for token, code in markers:
            handle = pane.pending.pop(token, None)
            if handle is not None:
                handle.resolve(code)
                self._publish(
                    "command.finished",
                    pane,
                    token=token,
                    command=handle.command,
                    exit_code=code,
                    duration_s=round(handle.elapsed_s(), 6),
                )

    def _on_eof(self, pane: _Pane) -> None:
        self._end_stream(pane)

    def _end_stream(self, pane: _Pane) -> None:
        if not pane.stream.closed:
            pane.stream.feed(pane.scanner.flush())
            if self._coalescer is not None:
                self._coalescer.flush(pane.pane_id)
            pane.stream.close()

    def _on_exit(self, pane: _Pane, code: int) -> None:
        self._fail_pending(pane, f"pane {pane.pane_id} exited with code {code}")
        self._publish("pane.exited", pane, exit_code=code)

    def _fail_pending(self, pane: _Pane, why: str) -> None:
        pending, pane.pending = pane.pending, {}
        for handle in pending.values():
            handle.fail(BackendError(f"{why} before the command finished", pane_id=pane.pane_id))

    def _publish(self, kind: str, pane: _Pane, **data: object) -> None:
        if self._events is not None:
            self._events.publish(
                kind,
                pane_id=pane.pane_id,
                orchflow_id=pane.orchflow_id,
                session=pane.session,
                **data,
            )


def _exit_code(pane: _Pane) -> int | None:
    return pane.proc.exit_code if pane.proc is not None else None


def _check_size(rows: int, cols: int) -> None:
    for what, value in (("height", rows), ("width", cols)):
        if not isinstance(value, int) or not 1 <= value <= MAX_WINDOW:
            raise InvalidArgumentError(
                f"bad pane {what} {value!r}: an integer from 1 to {MAX_WINDOW}", **{what: value}
            )


def _check_dir(path: str) -> str:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(full):
        raise InvalidArgumentError(f"cwd {path!r} is not a directory", cwd=path)
    return full


def _read_proc(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def login_shell() -> str:
    """The shell when ``$SHELL`` is unset (cron, CI, systemd): the account's login shell,
    then ``sh`` -- tmux's order too, so both backends start the same program."""
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell
    except KeyError:
        shell = ""
    if shell and os.access(shell, os.X_OK):
        return shell
    return shutil.which("sh") or "/bin/sh"
