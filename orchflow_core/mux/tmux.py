"""``TmuxBackend``: the ``MuxBackend`` protocol over tmux control mode (no libtmux).

Pieces: one ``ControlModeClient`` for commands (attached to the hidden session
``_orchflow``, ``no-output``), one watcher client per session that has panes we
stream (tmux sends ``%output`` only for the attached session), an ``OutputStream``
per pane fed by the watchers, and ``CompletionScanner`` for ``run()``.

Pane identity lives in tmux as pane user options ``@orchflow_id``, ``@orchflow_type``
and ``@orchflow_name``, so a restarted orchflow finds its panes again.

Events (when an EventBus is given): ``pane.created``, ``pane.closed``,
``command.finished``, and ``pane.output`` coalesced to at most one event per pane
per ``output_event_interval_s`` carrying byte counts, never the bytes (subscribe
for those), so a pane printing 8 MB/s costs the bus 20 events/s, not 10 000.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import uuid
from collections.abc import Callable, Mapping, Sequence

from orchflow_core.errors import (
    BackendError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    TmuxUnavailableError,
    UnavailableError,
)
from orchflow_core.events import EventBus
from orchflow_core.mux.backend import SPLITS, CommandHandle, PaneInfo, SessionInfo, Split
from orchflow_core.mux.control import (
    Event,
    Exit,
    LayoutChange,
    Reply,
    SessionsChanged,
    WindowClose,
    format_escape,
)
from orchflow_core.mux.control_client import (
    DEFAULT_COMMAND_TIMEOUT_S,
    HIDDEN_SESSION,
    ControlModeClient,
)
from orchflow_core.mux.keys import Key, parse_key
from orchflow_core.mux.shell_integration import (
    CompletionScanner,
    Launch,
    ShellMark,
    ShellMarkScanner,
    integrated_launch,
    new_token,
    wrap_command,
)
from orchflow_core.mux.stream import (
    DEFAULT_MAX_QUEUE,
    DEFAULT_RING_BYTES,
    OutputEventCoalescer,
    OutputStream,
    OutputSubscription,
)

log = logging.getLogger(__name__)

SEP = "\x1f"
_PANE_FIELDS = (
    "#{pane_id}",
    "#{@orchflow_id}",
    "#{session_name}",
    "#{@orchflow_name}",
    "#{@orchflow_type}",
    "#{pane_current_path}",
    "#{pane_current_command}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_pid}",
    "#{session_id}",
    "#{@orchflow_exit}",
    "#{@orchflow_shell}",
)
PANE_FORMAT = SEP.join(_PANE_FIELDS)
_PANE_ID = re.compile(r"%\d+")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# send-keys -l drops characters tmux thinks have no width; only plain ASCII takes that path.
# Shells the command-pane wrapper may use; anything else (fish ...) falls back to /bin/sh.
POSIX_SHELL = re.compile(r"/(bash|zsh|sh|dash|ksh|mksh|ash)$")
_PLAIN_ASCII = re.compile(r"[\x20-\x7e]*")
DEFAULT_PASTE_THRESHOLD = 1024
_BUFFER_CHUNK = 256 * 1024


def _parse_pane(line: str) -> tuple[PaneInfo, str]:
    f = line.split(SEP)
    if len(f) != len(_PANE_FIELDS):
        raise BackendError(f"unexpected list-panes line from tmux: {line!r}")
    dead = f[7] == "1"
    info = PaneInfo(
        pane_id=f[0],
        orchflow_id=f[1],
        session=f[2],
        name=f[3],
        pane_type=f[4],
        cwd=f[5],
        command=f[6],
        dead=dead,
        exit_code=_exit_code(f[8], f[11]) if dead else None,
        pid=int(f[9]) if f[9].isdigit() else None,
        shell=f[12],
    )
    return info, f[10]


def _exit_code(tmux_status: str, reported: str) -> int | None:
    # tmux 3.3a sometimes learns a child's status only at the next SIGCHLD; the
    # wrapper of command panes reports it itself as @orchflow_exit.
    for value in (tmux_status, reported):
        if value.lstrip("-").isdigit():
            return int(value)
    return None


def _check_pane_id(pane_id: str) -> str:
    if not isinstance(pane_id, str) or not _PANE_ID.fullmatch(pane_id):
        raise InvalidArgumentError(
            f"bad pane id {pane_id!r}: expected a tmux pane id like '%3'", pane_id=pane_id
        )
    return pane_id


# tmux rewrites these in session names (":" "." to "_", "$" "\\" to escapes).
_SESSION_FORBIDDEN = re.compile(r"[:.$\\]")


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidArgumentError(
            f"bad {what} {value!r}: expected 1-200 characters", **{what: value}
        )
    if _CONTROL_CHARS.search(value):
        raise InvalidArgumentError(
            f"bad {what} {value!r}: must not contain control characters", **{what: value}
        )
    if what == "session" and _SESSION_FORBIDDEN.search(value):
        raise InvalidArgumentError(
            f"bad session name {value!r}: tmux does not keep ':', '.', '$' or '\\' in names",
            session=value,
        )
    return value


class TmuxBackend:
    """Terminal panes in a tmux server (``socket`` as for ``tmux -L``; see resolve_socket)."""

    name = "tmux"

    def __init__(
        self,
        *,
        socket: str | None = None,
        events: EventBus | None = None,
        ring_bytes: int = DEFAULT_RING_BYTES,
        config_file: str | None = None,
        tmux: str | None = None,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT_S,
        paste_threshold: int = DEFAULT_PASTE_THRESHOLD,
        output_event_interval_s: float = 0.05,
        shell_integration: bool = True,
    ) -> None:
        self._events = events
        self._want_integration = shell_integration
        self._launch: Launch | None = None
        self.shell_integration = "off: not started"
        # Called with (pane id, mark) for every shell-integration mark (the manager's runs).
        self.on_mark: Callable[[str, ShellMark], None] | None = None
        self._mark_scanners: dict[str, ShellMarkScanner] = {}
        self._ring_bytes = ring_bytes
        self._paste_threshold = paste_threshold
        self._client_args = {
            "tmux": tmux,
            "config_file": config_file,
            "command_timeout": command_timeout,
        }
        self._ctl = ControlModeClient(
            socket=socket,
            session=HIDDEN_SESSION,
            no_output=True,
            on_event=self._on_ctl_event,
            **self._client_args,  # type: ignore[arg-type]
        )
        self.socket = self._ctl.socket
        self._watchers: dict[str, ControlModeClient] = {}  # session id -> watcher
        self._streams: dict[str, OutputStream] = {}
        self._scanners: dict[str, CompletionScanner] = {}
        self._runs: dict[str, dict[str, CommandHandle]] = {}  # pane id -> token -> handle
        self._orchflow_ids: dict[str, str] = {}  # pane id -> @orchflow_id, panes we know
        self._coalescer = (
            OutputEventCoalescer(events.publish, interval_s=output_event_interval_s)
            if events is not None
            else None
        )
        self._reconcile_task: asyncio.Task[None] | None = None
        self._started = False
        self._socket_path = ""
        self._command_shell = "/bin/sh"

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        if self._started and self._ctl.alive:
            return
        await self._ctl.start()
        self._started = True
        await self._find_socket_path()
        await self._discover()

    async def reconnect(self) -> None:
        """Attach again after the tmux server went away (starts a server if none runs)."""
        await self._close_watchers()
        self._end_all("tmux server went away")
        await self._ctl.reconnect()
        self._started = True
        await self._find_socket_path()
        await self._discover()

    async def close(self) -> None:
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
        await self._close_watchers()
        await self._ctl.close()
        self._end_all("backend closed")
        if self._coalescer is not None:
            self._coalescer.close()
        self._started = False

    async def __aenter__(self) -> TmuxBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _find_socket_path(self) -> None:
        replies = await self._pipeline(
            [
                ["display-message", "-p", "#{socket_path}"],
                ["show-options", "-gv", "default-shell"],
                ["show-options", "-gv", "default-command"],
            ]
        )
        self._socket_path = replies[0].text.strip()
        shell = replies[1].text.strip()
        self._command_shell = shell if POSIX_SHELL.search(shell) else "/bin/sh"
        default_command = replies[2].text.strip()
        self._launch = None
        if not self._want_integration:
            self.shell_integration = "off: terminal.shell_integration = false"
        elif default_command:
            # The user chose what a new pane runs; orchflow does not second-guess it.
            self.shell_integration = f"off: tmux default-command is set ({default_command!r})"
        else:
            self._launch = integrated_launch(shell)
            self.shell_integration = (
                self._launch.shell
                if self._launch is not None
                else f"off: no shell integration for {shell!r} (bash, zsh and fish have it)"
            )

    def _command_argv(self, command: str, go: str) -> list[str]:
        """argv for a pane running ``command`` (see create_pane): a POSIX shell script that
        waits for ``go``, runs the command, and reports its exit status as @orchflow_exit."""
        tmux = f"{shlex.quote(self._ctl.binary)} -S {shlex.quote(self._socket_path)}"
        script = (
            f"{tmux} wait-for {go}\n{command}\n__of_rc=$?\n"
            f'{tmux} set-option -p -t "$TMUX_PANE" @orchflow_exit "$__of_rc"\nexit "$__of_rc"'
        )
        return [self._command_shell, "-c", script]

    async def _discover(self) -> None:
        for info, session_id in await self._pane_rows(["-a"]):
            self._orchflow_ids[info.pane_id] = info.orchflow_id
            await self._ensure_watcher(session_id)

    def _end_all(self, why: str) -> None:
        for pane_id in list(self._streams):
            self._forget_pane(pane_id, TmuxUnavailableError(f"tmux unavailable: {why}"))
        self._orchflow_ids.clear()

    async def _close_watchers(self) -> None:
        watchers, self._watchers = self._watchers, {}
        for watcher in watchers.values():
            await watcher.close()

    # -- plumbing ------------------------------------------------------------
    def _raise(
        self, reply: Reply, cmd: str, *, pane_id: str | None = None, session: str | None = None
    ) -> None:
        text = reply.text
        if "can't find pane" in text or (pane_id and "can't find window" in text):
            raise NotFoundError(f"no pane {pane_id} in tmux", pane_id=pane_id)
        if "can't find session" in text or (session and "can't find window" in text):
            raise NotFoundError(f"no session {session!r} in tmux", session=session)
        if "duplicate session" in text:
            raise ConflictError(f"session {session!r} already exists", session=session)
        raise BackendError(f"tmux {cmd} failed: {text}", command=cmd)

    async def _run(
        self, name: str, *args: str, pane_id: str | None = None, session: str | None = None
    ) -> Reply:
        if not self._started:
            raise UnavailableError("tmux backend not started: call start() first")
        reply = await self._ctl.command(name, *args)
        if not reply.ok:
            self._raise(reply, name, pane_id=pane_id, session=session)
        return reply

    async def _pipeline(self, cmds: list[list[str]], *, pane_id: str | None = None) -> list[Reply]:
        if not self._started:
            raise UnavailableError("tmux backend not started: call start() first")
        replies = await self._ctl.commands(cmds)
        for cmd, reply in zip(cmds, replies, strict=True):
            if not reply.ok:
                self._raise(reply, cmd[0], pane_id=pane_id)
        return replies

    async def _pane_rows(
        self, scope: list[str], *, session: str | None = None
    ) -> list[tuple[PaneInfo, str]]:
        reply = await self._run("list-panes", *scope, "-F", PANE_FORMAT, session=session)
        rows = [_parse_pane(line) for line in reply.lines if line]
        return [(info, sid) for info, sid in rows if info.orchflow_id]

    async def _session_id(self, session: str) -> str:
        """The id (``$3``) of the session called exactly ``session``; NotFoundError if none."""
        _check_name(session, "session")
        for info in await self._sessions():
            if info.name == session:
                return info.id
        raise NotFoundError(f"no session {session!r} in tmux", session=session)

    async def _pane_session(self, pane_id: str) -> str:
        """The id of the session holding ``pane_id`` (display-message would not fail)."""
        reply = await self._run(
            "list-panes", "-t", pane_id, "-F", f"#{{pane_id}}{SEP}#{{session_id}}", pane_id=pane_id
        )
        for line in reply.lines:
            pid, _, sid = line.partition(SEP)
            if pid == pane_id:
                return sid
        raise NotFoundError(f"no pane {pane_id} in tmux", pane_id=pane_id)

    async def _ensure_watcher(self, session_id: str) -> None:
        watcher = self._watchers.get(session_id)
        if watcher is not None and watcher.alive:
            return
        watcher = ControlModeClient(
            socket=self.socket,
            session=session_id,
            create=False,
            on_output=self._on_output,
            on_event=lambda ev: self._on_watch_event(session_id, ev),
            **self._client_args,  # type: ignore[arg-type]
        )
        self._watchers[session_id] = watcher
        try:
            await watcher.start()
        except Exception:
            self._watchers.pop(session_id, None)
            raise

    def _stream(self, pane_id: str) -> OutputStream:
        stream = self._streams.get(pane_id)
        if stream is None:
            stream = self._streams[pane_id] = OutputStream(ring_bytes=self._ring_bytes)
        return stream

    def _on_output(self, pane_id: str, data: bytes) -> None:
        stream = self._stream(pane_id)
        stream.feed(data)
        if self._coalescer is not None and pane_id in self._orchflow_ids:
            self._coalescer.note(pane_id, len(data), stream.total_bytes)
        if self.on_mark is not None:
            # Every pane, not only tagged ones: a new shell's first prompt can come before
            # create_pane has tagged its pane.
            marks = self._mark_scanners.setdefault(pane_id, ShellMarkScanner()).feed(data)
            for mark in marks:
                self.on_mark(pane_id, mark)
        runs = self._runs.get(pane_id)
        if runs:
            scanner = self._scanners.setdefault(pane_id, CompletionScanner())
            for token, exit_code in scanner.feed(data):
                handle = runs.pop(token, None)
                if handle is not None:
                    handle.resolve(exit_code)
                    self._publish(
                        "command.finished",
                        pane_id=pane_id,
                        token=token,
                        command=handle.command,
                        exit_code=exit_code,
                        duration_s=round(handle.elapsed_s(), 6),
                    )

    def _on_ctl_event(self, event: Event) -> None:
        if isinstance(event, Exit):
            self._end_all(event.reason or "tmux exited")

    def _on_watch_event(self, session_id: str, event: Event) -> None:
        if isinstance(event, Exit):
            self._watchers.pop(session_id, None)
        if isinstance(event, Exit | WindowClose | LayoutChange | SessionsChanged):
            self._schedule_reconcile()

    def _schedule_reconcile(self) -> None:
        if self._reconcile_task is None or self._reconcile_task.done():
            self._reconcile_task = asyncio.get_running_loop().create_task(self._reconcile())

    async def _reconcile(self) -> None:
        """Forget panes tmux no longer has (closed from outside orchflow, or exited)."""
        await asyncio.sleep(0.02)  # one pass for a burst of notifications
        if not self._ctl.alive:
            return
        try:
            reply = await self._ctl.command("list-panes", "-a", "-F", "#{pane_id}")
        except OrchflowError as exc:  # tmux went away meanwhile: its Exit event ends it all
            log.debug("reconcile after a tmux notification skipped: %s", exc.message)
            return
        alive = set(reply.lines)
        for pane_id in set(self._streams) | set(self._orchflow_ids):
            if pane_id not in alive:
                self._forget_pane(pane_id, BackendError(f"pane {pane_id} closed", pane_id=pane_id))

    def _forget_pane(self, pane_id: str, error: Exception) -> None:
        stream = self._streams.pop(pane_id, None)
        if stream is not None:
            stream.close()
        self._scanners.pop(pane_id, None)
        self._mark_scanners.pop(pane_id, None)
        for handle in self._runs.pop(pane_id, {}).values():
            handle.fail(error)
        orchflow_id = self._orchflow_ids.pop(pane_id, None)
        if orchflow_id is not None:
            if self._coalescer is not None:
                self._coalescer.flush(pane_id)
            self._publish("pane.closed", pane_id=pane_id, orchflow_id=orchflow_id)

    def _drop_run(self, handle: CommandHandle) -> None:
        self._runs.get(handle.pane_id, {}).pop(handle.token, None)

    def _publish(self, kind: str, **data: object) -> None:
        if self._events is not None:
            self._events.publish(kind, **data)

    # -- sessions ------------------------------------------------------------
    async def create_session(self, name: str, *, cwd: str | None = None) -> SessionInfo:
        _check_name(name, "session")
        args = ["-d", "-s", format_escape(name), "-P", "-F", "#{session_id}"]
        if cwd is not None:
            args += ["-c", format_escape(cwd)]
        reply = await self._run("new-session", *args, session=name)
        session_id = reply.text.strip()
        await self._ensure_watcher(session_id)
        return SessionInfo(name=name, id=session_id)

    async def _sessions(self) -> list[SessionInfo]:
        reply = await self._run("list-sessions", "-F", f"#{{session_id}}{SEP}#{{session_name}}")
        out = []
        for line in reply.lines:
            sid, _, name = line.partition(SEP)
            out.append(SessionInfo(name=name, id=sid))
        return out

    async def list_sessions(self) -> list[SessionInfo]:
        return [info for info in await self._sessions() if info.name != HIDDEN_SESSION]

    async def rename_session(self, old: str, new: str) -> SessionInfo:
        _check_name(old, "session")
        _check_name(new, "session")
        if HIDDEN_SESSION in (old, new):
            raise InvalidArgumentError(f"session {HIDDEN_SESSION!r} is orchflow's own", session=old)
        session_id = await self._session_id(old)
        await self._run("rename-session", "-t", session_id, format_escape(new), session=new)
        return SessionInfo(name=new, id=session_id)

    async def kill_session(self, name: str) -> None:
        _check_name(name, "session")
        if name == HIDDEN_SESSION:
            raise InvalidArgumentError(
                f"session {HIDDEN_SESSION!r} is orchflow's own", session=name
            )
        session_id = await self._session_id(name)
        panes = await self._ctl.command("list-panes", "-s", "-t", session_id, "-F", "#{pane_id}")
        await self._run("kill-session", "-t", session_id, session=name)
        watcher = self._watchers.pop(session_id, None)
        if watcher is not None:
            await watcher.close()
        for pane_id in panes.lines:
            self._forget_pane(pane_id, BackendError(f"session {name!r} was killed", session=name))

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
        if split not in SPLITS:
            raise InvalidArgumentError(
                f"bad split {split!r}: expected one of {', '.join(SPLITS)}", split=split
            )
        _check_name(pane_type, "pane_type")
        if name is not None:
            _check_name(name, "name")
        session_id = await self._session_id(session)
        await self._ensure_watcher(session_id)  # before the pane exists: no output is missed
        args = ["-d", "-P", "-F", "#{pane_id}"]
        if split == "window":
            args = ["new-window", *args, "-t", f"{session_id}:"]
        else:
            where = _check_pane_id(target) if target is not None else f"{session_id}:"
            args = ["split-window", "-h" if split == "horizontal" else "-v", *args, "-t", where]
        launch: list[str] = []  # -c/-e and the command, for new-window or respawn-pane
        if cwd is not None:
            launch += ["-c", format_escape(cwd)]
        for key, value in (env or {}).items():
            if not _ENV_KEY.fullmatch(key) or "\x00" in value:
                raise InvalidArgumentError(f"bad environment variable {key!r}", key=key)
            launch += ["-e", f"{key}={value}"]
        if command is not None:
            if not command.strip() or "\x00" in command:
                raise InvalidArgumentError(f"bad command {command!r}", command=command)
            # The command waits for our go (a tmux wait-for channel) until remain-on-exit
            # is set, so one that exits at once still leaves its exit code behind.
            # The shell stays the pane's process (so pane_current_command shows the shell
            # while the command runs: its child).
            go = f"orchflow-go-{uuid.uuid4().hex}"
            launch += self._command_argv(command, go)
        shell = ""
        if command is None and self._launch is not None:
            shell = self._launch.shell
            for key, value in self._launch.env.items():
                launch += ["-e", f"{key}={value}"]
            launch += self._launch.argv
        args += launch
        reply = await self._run(args[0], *args[1:], pane_id=target, session=session)
        pane_id = reply.text.strip()
        orchflow_id = uuid.uuid4().hex
        self._stream(pane_id)
        tags = [
            ["set-option", "-p", "-t", pane_id, "@orchflow_id", orchflow_id],
            ["set-option", "-p", "-t", pane_id, "@orchflow_type", pane_type],
            ["set-option", "-p", "-t", pane_id, "@orchflow_name", name or pane_type],
        ]
        if shell:
            tags.append(["set-option", "-p", "-t", pane_id, "@orchflow_shell", shell])
        if command is not None:
            tags.append(["set-option", "-p", "-t", pane_id, "remain-on-exit", "on"])
            tags.append(["wait-for", "-S", go])
        await self._pipeline(tags, pane_id=pane_id)
        self._orchflow_ids[pane_id] = orchflow_id
        info = await self.get_pane(pane_id)
        self._publish(
            "pane.created",
            pane_id=pane_id,
            orchflow_id=orchflow_id,
            session=info.session,
            name=info.name,
            pane_type=pane_type,
        )
        return info

    async def respawn_pane(
        self,
        pane_id: str,
        *,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> PaneInfo:
        """Run ``command`` in the pane again (``respawn-pane -k``: what runs there is
        killed first; a dead pane comes alive): the pane keeps its id and its tags, its
        output goes on in the same stream, and its exit is reported as create_pane's."""
        _check_pane_id(pane_id)
        if not command.strip() or "\x00" in command:
            raise InvalidArgumentError(f"bad command {command!r}", command=command)
        launch: list[str] = []
        if cwd is not None:
            launch += ["-c", format_escape(cwd)]
        for key, value in (env or {}).items():
            if not _ENV_KEY.fullmatch(key) or "\x00" in value:
                raise InvalidArgumentError(f"bad environment variable {key!r}", key=key)
            launch += ["-e", f"{key}={value}"]
        go = f"orchflow-go-{uuid.uuid4().hex}"
        launch += self._command_argv(command, go)
        await self._pipeline(
            [
                ["set-option", "-p", "-u", "-t", pane_id, "@orchflow_exit"],
                ["respawn-pane", "-k", "-t", pane_id, *launch],
                ["set-option", "-p", "-t", pane_id, "remain-on-exit", "on"],
                ["wait-for", "-S", go],
            ],
            pane_id=pane_id,
        )
        return await self.get_pane(pane_id)

    async def set_user_options(self, pane_id: str, options: Mapping[str, str]) -> None:
        """Set the pane's ``@orchflow_<name>`` user options (identity tags other orchflow
        processes read: see orchflow_core/mux/pane_tags.py)."""
        _check_pane_id(pane_id)
        cmds = [
            ["set-option", "-p", "-t", pane_id, f"@orchflow_{name}", value]
            for name, value in options.items()
        ]
        if cmds:
            await self._pipeline(cmds, pane_id=pane_id)

    async def user_options(self, pane_id: str, names: Sequence[str]) -> dict[str, str]:
        """The pane's ``@orchflow_<name>`` user options ("" where unset)."""
        _check_pane_id(pane_id)
        cmds = [["show-options", "-p", "-q", "-v", "-t", pane_id, f"@orchflow_{n}"] for n in names]
        replies = await self._pipeline(cmds, pane_id=pane_id)
        return {n: r.text.strip() for n, r in zip(names, replies, strict=True)}

    async def list_panes(self, session: str | None = None) -> list[PaneInfo]:
        if session is None:
            rows = await self._pane_rows(["-a"])
        else:
            rows = await self._pane_rows(
                ["-s", "-t", await self._session_id(session)], session=session
            )
        # Panes another orchflow process made since we started: stream them too (their
        # shells' marks are runs this process reports as well).
        for info, session_id in rows:
            self._orchflow_ids.setdefault(info.pane_id, info.orchflow_id)
            if session_id not in self._watchers:
                await self._ensure_watcher(session_id)
        return [info for info, _ in rows]

    async def get_pane(self, pane_id: str) -> PaneInfo:
        _check_pane_id(pane_id)
        reply = await self._run("list-panes", "-t", pane_id, "-F", PANE_FORMAT, pane_id=pane_id)
        for line in reply.lines:
            info, _ = _parse_pane(line)
            if info.pane_id == pane_id:
                return info
        raise NotFoundError(f"no pane {pane_id} in tmux", pane_id=pane_id)

    async def resize_pane(
        self, pane_id: str, *, width: int | None = None, height: int | None = None
    ) -> None:
        _check_pane_id(pane_id)
        args = ["-t", pane_id]
        for flag, value, what in (("-x", width, "width"), ("-y", height, "height")):
            if value is not None:
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10000:
                    raise InvalidArgumentError(
                        f"bad {what} {value!r}: expected 1..10000", **{what: value}
                    )
                args += [flag, str(value)]
        await self._run("resize-pane", *args, pane_id=pane_id)

    async def focus_pane(self, pane_id: str) -> None:
        _check_pane_id(pane_id)
        await self._pipeline(
            [["select-window", "-t", pane_id], ["select-pane", "-t", pane_id]], pane_id=pane_id
        )

    async def close_pane(self, pane_id: str) -> None:
        _check_pane_id(pane_id)
        await self._run("kill-pane", "-t", pane_id, pane_id=pane_id)
        self._forget_pane(pane_id, BackendError(f"pane {pane_id} was closed", pane_id=pane_id))

    # -- input ---------------------------------------------------------------
    def _text_commands(self, pane_id: str, text: str, *, paste: bool = False) -> list[list[str]]:
        """Commands that type ``text`` byte-exact: send-keys -l for short plain ASCII,
        else a one-shot paste buffer (``-r``: no LF->CR; with ``paste``, wrapped in the
        bracketed-paste marks), and ``send-keys -H 00`` for NUL."""
        if not text:
            return []
        if paste:
            # The bracket marks go in the text itself: tmux's -p adds them only once the
            # program has switched bracketed paste on, which a shell may do just after
            # drawing its prompt; a line editor reads them whenever they come.
            text = f"\x1b[200~{text}\x1b[201~"
        elif len(text) <= self._paste_threshold and _PLAIN_ASCII.fullmatch(text):
            return [["send-keys", "-l", "-t", pane_id, "--", text]]
        cmds: list[list[str]] = []
        for i, part in enumerate(text.split("\x00")):
            if i:
                cmds.append(["send-keys", "-H", "-t", pane_id, "00"])
            if part:
                buffer = f"orchflow-{uuid.uuid4().hex}"
                for start in range(0, len(part), _BUFFER_CHUNK):
                    append = ["-a"] if start else []
                    cmds.append(
                        [
                            "set-buffer",
                            *append,
                            "-b",
                            buffer,
                            "--",
                            part[start : start + _BUFFER_CHUNK],
                        ]
                    )
                cmds.append(["paste-buffer", "-d", "-r", "-b", buffer, "-t", pane_id])
        return cmds

    async def send_text(
        self, pane_id: str, text: str, *, paste: bool = False, enter: bool = False
    ) -> None:
        _check_pane_id(pane_id)
        if not isinstance(text, str):
            raise InvalidArgumentError(f"text must be a string, got {type(text).__name__}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(
                f"text is not valid unicode: {exc}", pane_id=pane_id
            ) from None
        cmds = self._text_commands(pane_id, text, paste=paste)
        if enter:  # the Enter key in the same pipeline: one round trip for text + Enter
            cmds.append(["send-keys", "-t", pane_id, Key.ENTER.value])
        if cmds:
            await self._pipeline(cmds, pane_id=pane_id)

    async def send_keys(self, pane_id: str, *keys: Key) -> None:
        _check_pane_id(pane_id)
        names = [(k if isinstance(k, Key) else parse_key(k)).value for k in keys]
        if names:
            await self._run("send-keys", "-t", pane_id, *names, pane_id=pane_id)

    async def reset_pane(self, pane_id: str) -> None:
        """Clear the pane's screen and scrollback (``send-keys -R``, ``clear-history``),
        then C-l, so the shell's line editor redraws its prompt at the top (it would
        otherwise draw the next line where it believes the cursor is): a reused shell pane
        then shows, and captures, only what comes next."""
        _check_pane_id(pane_id)
        await self._pipeline(
            [
                ["send-keys", "-R", "-t", pane_id],
                ["clear-history", "-t", pane_id],
                ["send-keys", "-t", pane_id, Key.C_L.value],
            ],
            pane_id=pane_id,
        )

    async def cursor(self, pane_id: str) -> tuple[int, int]:
        """The pane's cursor (x, y): x > 0 on a line a prompt was drawn on. A cursor at the
        start of a line just after a full one (a prompt exactly as wide as the pane wrapped
        it there) is reported at the end of that line: (width, y - 1)."""
        _check_pane_id(pane_id)
        reply = await self._run(
            "display-message",
            "-p",
            "-t",
            pane_id,
            "#{cursor_x} #{cursor_y} #{pane_width}",
            pane_id=pane_id,
        )
        x, y, width = ((reply.lines[0] if reply.lines else "") + " 0 0 0").split()[:3]
        cx, cy, w = int(x or 0), int(y or 0), int(width or 0)
        if cx == 0 and cy > 0 and w > 0:
            # -J joins a wrapped line with the next: one line back means the one above
            # the cursor wrapped onto the cursor's line.
            both = await self._run(
                "capture-pane", "-p", "-J", "-t", pane_id, "-S", str(cy - 1), "-E", str(cy)
            )
            if len(both.lines) == 1:
                return w, cy - 1
        return cx, cy

    async def run(self, pane_id: str, cmd: str) -> CommandHandle:
        """Run ``cmd`` in the pane's shell (in a subshell; see shell_integration)."""
        _check_pane_id(pane_id)
        if not isinstance(cmd, str) or not cmd.strip() or "\x00" in cmd:
            raise InvalidArgumentError(f"bad command {cmd!r}: expected non-empty text without NUL")
        await self._ensure_watcher(await self._pane_session(pane_id))
        self._stream(pane_id)
        token = new_token()

        async def interrupt() -> None:
            await self.send_keys(pane_id, Key.C_C)

        handle = CommandHandle(
            pane_id,
            cmd,
            token,
            interrupt=interrupt,
            on_cancel=self._drop_run,
        )
        self._runs.setdefault(pane_id, {})[token] = handle
        cmds = self._text_commands(pane_id, wrap_command(cmd, token))
        cmds.append(["send-keys", "-t", pane_id, Key.ENTER.value])
        try:
            await self._pipeline(cmds, pane_id=pane_id)
        except BaseException:
            self._runs.get(pane_id, {}).pop(token, None)
            raise
        return handle

    # -- output --------------------------------------------------------------
    async def subscribe(
        self, pane_id: str, *, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> OutputSubscription:
        _check_pane_id(pane_id)
        await self._ensure_watcher(await self._pane_session(pane_id))
        return self._stream(pane_id).subscribe(max_queue=max_queue)

    async def capture(self, pane_id: str, *, start: int | None = None) -> str:
        _check_pane_id(pane_id)
        reply = await self._run(
            "capture-pane",
            "-p",
            "-J",
            "-t",
            pane_id,
            "-S",
            "-" if start is None else str(int(start)),
            pane_id=pane_id,
        )
        lines = list(reply.lines)
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines)
