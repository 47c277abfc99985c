"""One persistent ``tmux -C`` client over asyncio: commands in, replies and events out.

The client pipes bytes between a tmux control-mode process and ``ControlParser``
(control.py holds all protocol logic). Commands are written at once and may be
pipelined; their replies come back in order. ``%output`` goes to ``on_output``;
other notifications go to ``on_event``.

As in websockets, a command's reply slot (its ``seq`` in the parser and its waiter)
is registered and its bytes are handed to the transport in one synchronous step:
``transport.write`` never blocks, so there is no await in between and no lock. Only
draining and waiting for the reply await, so a caller cancelled at any point either
wrote nothing and registered nothing, or wrote its line and has a slot: the reply
to that line is then consumed and discarded, never handed to another caller.

A tmux control client only sees ``%output`` of panes in the session it is attached
to, so the tmux backend runs one command client (attached to a hidden session,
``no-output``) and one watcher per session that has orchflow panes.

When tmux goes away (``%exit`` or EOF) every pending and later call raises
``TmuxUnavailableError`` until ``reconnect()`` succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence

from orchflow_core.errors import BackendError, TimeoutError_, TmuxUnavailableError
from orchflow_core.mux.control import (
    ControlParser,
    Event,
    Exit,
    Output,
    Reply,
    SessionChanged,
    encode_command,
)

log = logging.getLogger(__name__)

HIDDEN_SESSION = "_orchflow"
MIN_VERSION = (3, 2)
DEFAULT_COMMAND_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
SOCKET_ENV = "ORCHFLOW_TMUX_SOCKET"
_READ_SIZE = 256 * 1024


def find_tmux(path: str | None = None) -> str:
    """The tmux binary (``path`` or the one on PATH); TmuxUnavailableError if there is none."""
    found = shutil.which(path or "tmux")
    if found is None:
        raise TmuxUnavailableError("tmux not found: install tmux >= 3.2", binary=path or "tmux")
    return found


def resolve_socket(socket: str | None) -> str | None:
    """The ``-L`` socket name: the argument, else $ORCHFLOW_TMUX_SOCKET, else tmux's default."""
    return socket or os.environ.get(SOCKET_ENV) or None


async def tmux_version(
    binary: str,
    *,
    timeout: float = DEFAULT_CONNECT_TIMEOUT_S,  # noqa: ASYNC109 - bounded wait is part of the API
) -> tuple[int, int]:
    proc = await asyncio.create_subprocess_exec(
        binary, "-V", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        raise TmuxUnavailableError(f"{binary} -V did not answer in {timeout} s") from None
    match = re.search(rb"(\d+)\.(\d+)", out)
    if match is None:
        raise TmuxUnavailableError(f"cannot read the tmux version from {out!r}")
    return int(match[1]), int(match[2])


class State(enum.Enum):
    """The lifecycle of a ``ControlModeClient`` (websockets' ``State``; transitions below).

    IDLE        never started
    CONNECTING  ``tmux -C`` spawned, waiting for tmux to attach it
    OPEN        attached: commands are accepted
    CLOSING     ``close()`` called: going away without telling ``on_event``
    CLOSED      gone (``close()``, ``%exit``, EOF, a failed write); ``reason`` says why
    """

    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.CONNECTING}),
    State.CONNECTING: frozenset({State.OPEN, State.CLOSING, State.CLOSED}),
    State.OPEN: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset({State.CONNECTING}),
}


class ControlModeClient:
    """A ``tmux -C`` process attached to ``session`` (created first if ``create``)."""

    def __init__(
        self,
        *,
        socket: str | None = None,
        tmux: str | None = None,
        session: str = HIDDEN_SESSION,
        create: bool = True,
        config_file: str | None = None,
        no_output: bool = False,
        on_output: Callable[[str, bytes], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT_S,
    ) -> None:
        self.socket = resolve_socket(socket)
        self._tmux_arg = tmux
        self.session = session
        self._create = create
        self._config_file = config_file
        self._no_output = no_output
        self.on_output = on_output
        self.on_event = on_event
        self.command_timeout = command_timeout
        self.session_id: str | None = None
        self.binary = ""  # the tmux executable, once started
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._parser = ControlParser()
        self._waiters: dict[int, asyncio.Future[Reply]] = {}
        self._attached: asyncio.Future[None] | None = None
        self._state = State.IDLE
        self._reason = "not started"  # why the client is not OPEN
        self._start_lock = asyncio.Lock()  # start() only; commands never take a lock

    @property
    def state(self) -> State:
        return self._state

    @property
    def alive(self) -> bool:
        """Spawned and not gone: CONNECTING or OPEN."""
        return self._state in (State.CONNECTING, State.OPEN)

    @property
    def pending(self) -> int:
        """Commands written whose reply has not arrived (abandoned ones included)."""
        return self._parser.pending

    def _set_state(self, new: State) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"control client: {self._state.name} -> {new.name} not allowed")
        log.debug("control client %s: %s -> %s", self.session, self._state.name, new.name)
        self._state = new

    def base_args(self, binary: str) -> list[str]:
        args = [binary]
        if self.socket:
            args += ["-L", self.socket]
        if self._config_file:
            args += ["-f", self._config_file]
        return args

    async def start(self, *, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:  # noqa: ASYNC109 - bounded wait is part of the API
        """Spawn the client and wait until tmux has attached it. Idempotent while alive;
        concurrent calls share one attach."""
        async with self._start_lock:
            if self.alive:
                return
            if self._state is State.CLOSING:
                raise TmuxUnavailableError("the control client is closing", socket=self.socket)
            await self._start(timeout)

    async def _start(self, timeout: float) -> None:  # noqa: ASYNC109 - bounded wait is part of the API
        binary = self.binary = find_tmux(self._tmux_arg)
        if await tmux_version(binary, timeout=timeout) < MIN_VERSION:
            raise TmuxUnavailableError(f"{binary} is older than tmux 3.2: install tmux >= 3.2")
        target = f"={self.session}"
        if self._create:
            # The hidden session runs `cat`: it blocks on its tty and costs nothing.
            cmd = ["new-session", "-A", "-s", self.session, "-x", "80", "-y", "24", "cat"]
        else:
            cmd = ["attach-session", "-t", target]
        self._parser = ControlParser()
        loop = asyncio.get_running_loop()
        self._attached = loop.create_future()
        self._proc = await asyncio.create_subprocess_exec(
            *self.base_args(binary),
            "-C",
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a C-c in our terminal must not reach tmux
        )
        self._set_state(State.CONNECTING)
        self._reason = ""
        self._reader = asyncio.create_task(self._read_loop(self._proc), name="tmux-control-reader")
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._attached)
        except TimeoutError:
            await self._kill()
            raise TmuxUnavailableError(
                f"tmux control client did not attach within {timeout} s", socket=self.socket
            ) from None
        except TmuxUnavailableError:
            await self._kill()
            raise
        if self._no_output:
            await self.command("refresh-client", "-f", "no-output")
        log.debug("control client attached to %s on socket %s", self.session, self.socket)

    async def _read_loop(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        reason = "tmux closed the control connection"
        try:
            while True:
                data = await proc.stdout.read(_READ_SIZE)
                if not data:
                    break
                exited = self._dispatch(self._parser.feed(data))
                if exited is not None:
                    reason = f"tmux server exited ({exited})" if exited else "tmux exited"
                    break
        except Exception as exc:  # a parser bug must not leave callers hanging
            log.exception("control client reader failed")
            reason = f"control client reader failed: {exc}"
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 1.0)
            except TimeoutError:
                log.debug("tmux client %s still running after its output ended", proc.pid)
        stderr = b""
        if proc.stderr is not None:
            try:
                stderr = await asyncio.wait_for(proc.stderr.read(4096), 0.5)
            except (TimeoutError, OSError) as exc:
                log.debug("tmux client stderr unreadable: %r", exc)
        if stderr.strip():
            reason = f"{reason}: {stderr.decode(errors='replace').strip()}"
        self._mark_dead(reason)

    def _dispatch(self, events: Sequence[Event]) -> str | None:
        on_output = self.on_output
        for event in events:
            if isinstance(event, Reply):
                # A waiter whose caller gave up (cancelled, timed out) is done already:
                # its reply is consumed here and dropped.
                waiter = self._waiters.pop(event.seq, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
            elif isinstance(event, Output):
                if on_output is not None:
                    on_output(event.pane_id, event.data)
            elif isinstance(event, Exit):
                return event.reason
            else:
                if isinstance(event, SessionChanged):
                    self.session_id = event.session_id
                    if self._state is State.CONNECTING:
                        self._set_state(State.OPEN)
                    if self._attached is not None and not self._attached.done():
                        self._attached.set_result(None)
                if self.on_event is not None:
                    try:
                        self.on_event(event)
                    except Exception:
                        log.exception("control event handler failed on %r", event)
        return None

    def _mark_dead(self, reason: str) -> None:
        """CLOSED, failing every waiter; tells ``on_event`` unless ``close()`` asked for it."""
        if not self.alive and self._state is not State.CLOSING:
            return
        closing = self._state is State.CLOSING
        self._reason = "closed" if closing else reason
        self._set_state(State.CLOSED)
        log.info("tmux control client down: %s", reason)
        error = TmuxUnavailableError(f"tmux unavailable: {reason}", socket=self.socket)
        self._parser.fail_pending()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            if not waiter.done():
                waiter.set_exception(error)
        if self._attached is not None and not self._attached.done():
            self._attached.set_exception(error)
            self._attached.exception()
        if self.on_event is not None and not closing:
            try:
                self.on_event(Exit(reason))
            except Exception:
                log.exception("control client exit listener failed")

    def _unavailable(self) -> TmuxUnavailableError:
        return TmuxUnavailableError(
            f"tmux unavailable: {self._reason or self._state.value}; call reconnect() once the"
            " server is back",
            socket=self.socket,
        )

    async def command(self, name: str, *args: str, timeout: float | None = None) -> Reply:  # noqa: ASYNC109 - bounded wait is part of the API
        """Run one command; its Reply (``ok`` False on %error: use ``check`` to raise)."""
        return (await self.commands([(name, *args)], timeout=timeout))[0]

    async def commands(
        self,
        cmds: Sequence[Sequence[str]],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - bounded wait is part of the API
    ) -> list[Reply]:
        """Send several commands in one write (pipelined); replies in the same order.

        Cancelling the caller (or ``timeout`` running out) at any await leaves the
        client in step: see the module docstring. A command that cannot be encoded
        (ValueError: NUL in an argument) fails the whole batch before anything is
        registered or written.
        """
        writer, futures = self._send(cmds)
        try:
            try:
                await writer.drain()
            except (ConnectionError, RuntimeError) as exc:
                # the reader sees EOF too; failing now wakes this caller at once
                self._mark_dead(f"write failed: {exc}")
            limit = self.command_timeout if timeout is None else timeout
            try:
                async with asyncio.timeout(limit):
                    return [await f for f in futures]
            except TimeoutError:
                raise TimeoutError_(
                    f"tmux did not answer {cmds[0][0]!r} within {limit} s", command=cmds[0][0]
                ) from None
        finally:
            # Abandoned (cancelled, timed out, failed): the slots stay registered so
            # their replies are consumed; done futures are dropped when those arrive.
            for f in futures:
                if not f.done():
                    f.cancel()
                elif not f.cancelled():
                    f.exception()  # retrieved: the caller has the first error already

    def _send(
        self, cmds: Sequence[Sequence[str]]
    ) -> tuple[asyncio.StreamWriter, list[asyncio.Future[Reply]]]:
        """Register a reply slot per command and write them all: one step, no await.
        Returns the writer to drain and the futures of the replies."""
        proc = self._proc
        if self._state is not State.OPEN or proc is None or proc.stdin is None:
            raise self._unavailable()
        writer = proc.stdin
        payload = b"".join(encode_command(name, *args) for name, *args in cmds)  # may raise
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Reply]] = []
        for _ in cmds:
            fut: asyncio.Future[Reply] = loop.create_future()
            self._waiters[self._parser.register()] = fut
            futures.append(fut)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("tmux <- %s", " ".join(c[0] for c in cmds))
        try:
            writer.write(payload)  # buffered by the transport: never blocks or awaits
        except Exception as exc:  # the slots are registered but nothing went out
            for f in futures:
                f.cancel()
            self._mark_dead(f"write failed: {exc}")
            raise self._unavailable() from None
        return writer, futures

    async def check(self, name: str, *args: str, timeout: float | None = None) -> Reply:  # noqa: ASYNC109 - bounded wait is part of the API
        """Like ``command`` but a tmux %error raises BackendError with tmux's message."""
        reply = await self.command(name, *args, timeout=timeout)
        if not reply.ok:
            raise BackendError(f"tmux {name} failed: {reply.text}", command=name)
        return reply

    async def reconnect(self, *, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:  # noqa: ASYNC109 - bounded wait is part of the API
        """Drop the old process and attach anew (starting the server if needed)."""
        await self._kill()
        await self.start(timeout=timeout)

    async def _kill(self) -> None:
        proc, reader = self._proc, self._reader
        self._proc = self._reader = None
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError as exc:  # tmux already gone: the pipe is broken
                    log.debug("closing tmux client stdin: %r", exc)
            try:
                await asyncio.wait_for(proc.wait(), 1.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                try:
                    await asyncio.wait_for(proc.wait(), 1.0)
                except TimeoutError:
                    log.warning("tmux client %s did not exit after SIGKILL", proc.pid)
        if reader is not None:
            try:
                await asyncio.wait_for(reader, 1.0)
            except TimeoutError:
                log.debug("control client reader still running at close; cancelled")
            except asyncio.CancelledError:
                if reader.cancelled() and not self._current_task_cancelling():
                    log.debug("control client reader was cancelled")
                else:
                    raise  # the caller of close() is being cancelled: let it be
            except Exception:
                log.exception("control client reader ended with an error")
        self._mark_dead("closed")

    @staticmethod
    def _current_task_cancelling() -> bool:
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0

    async def close(self) -> None:
        """Detach (closing stdin makes tmux detach the client); idempotent."""
        if self.alive:
            self._set_state(State.CLOSING)
        await self._kill()
