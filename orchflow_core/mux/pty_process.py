"""One program on its own pseudo-terminal, driven from the asyncio loop without threads.

    PtyProcess.spawn(argv) ──► /bin/sh trampoline (new session, slave as ctty) ──exec──► argv
        master fd ──loop.add_reader──► on_output(bytes) ... on_eof()
        pidfd     ──loop.add_reader──► waitpid ──► on_exit(exit_code)
        write()   ──os.write, rest via loop.add_writer (partial writes, EAGAIN)

No Python runs in the forked child: the orchflow host is multi-threaded, where
``preexec_fn`` (or ``pty.fork``) may deadlock before ``exec``. ``os.posix_spawn``
starts a new session (``setsid``) with the slave as fds 0-2, then a tiny ``/bin/sh``
trampoline opens the slave by path: a session leader without a controlling terminal
acquires the tty it opens (Linux), so the line discipline turns ``\\x03`` into SIGINT
for the foreground process group, exactly as in a terminal.

Exit codes: the program's own, or 128 + the signal number if a signal killed it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import logging
import os
import signal
import struct
import termios
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from orchflow_core.errors import BackendError, InvalidArgumentError, UnavailableError

log = logging.getLogger(__name__)

SH = "/bin/sh"
# $1: slave path, $2: working directory, then the argv to exec.
TRAMPOLINE = ': <>"$1" || exit 126; cd -- "$2" || exit 126; shift 2; exec "$@"'
READ_SIZE = 64 * 1024
WRITE_BUDGET = 256 * 1024  # bytes written per loop callback before yielding to other work
DRAIN_LIMIT = 4 * 1024 * 1024  # bytes read synchronously after the program exited


@dataclass(eq=False, slots=True)
class WriteRequest:
    """Bytes queued for the master; ``future`` resolves once all were written."""

    data: memoryview
    future: asyncio.Future[None]
    written: int = 0
    total: int = field(init=False)

    def __post_init__(self) -> None:
        self.total = len(self.data)


def exit_code_of(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + signal number."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid`` (Linux /proc; empty elsewhere). Zombies excluded."""
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parens.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != b"Z":
            pids.append(int(entry))
    return pids


class PtyProcess:
    """A child process on a pty. Create with ``spawn``; all methods run on the loop's thread."""

    def __init__(
        self,
        pid: int,
        master_fd: int,
        loop: asyncio.AbstractEventLoop,
        on_output: Callable[[bytes], None],
        on_eof: Callable[[], None],
        on_exit: Callable[[int], None],
    ) -> None:
        self.pid = pid
        self.master_fd = master_fd
        self.exit_code: int | None = None
        self._loop = loop
        self._on_output = on_output
        self._on_eof = on_eof
        self._on_exit = on_exit
        self._exited: asyncio.Future[int] = loop.create_future()
        self._reading = True
        self._writing = False
        self._queue: collections.deque[WriteRequest] = collections.deque()
        self._pidfd: int | None = None
        self._closed = False

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        rows: int,
        cols: int,
        on_output: Callable[[bytes], None],
        on_eof: Callable[[], None],
        on_exit: Callable[[int], None],
    ) -> PtyProcess:
        """Start ``argv`` on a new ``rows`` x ``cols`` pty; callbacks run on the running loop."""
        loop = asyncio.get_running_loop()
        if not os.access(SH, os.X_OK):
            raise UnavailableError(f"{SH} is needed to start programs on a pty", path=SH)
        master, slave = os.openpty()  # both O_CLOEXEC: nothing else inherits them
        try:
            set_window_size(master, rows, cols)
            os.set_blocking(master, False)
            pid = os.posix_spawn(
                SH,
                [SH, "-c", TRAMPOLINE, "orchflow-pty", os.ttyname(slave), cwd, *argv],
                dict(env),
                file_actions=[(os.POSIX_SPAWN_DUP2, slave, fd) for fd in (0, 1, 2)],
                setsid=True,
            )
        except OSError as exc:
            os.close(master)
            raise BackendError(f"cannot start {argv[0]!r} on a pty: {exc}", argv0=argv[0]) from exc
        except (ValueError, TypeError) as exc:  # NUL in argv, "=" in an env name, non-str value
            os.close(master)
            raise InvalidArgumentError(f"bad command or environment: {exc}") from exc
        finally:
            os.close(slave)  # the child has its own copies; EOF needs every slave fd closed
        proc = cls(pid, master, loop, on_output, on_eof, on_exit)
        loop.add_reader(master, proc._on_readable)
        proc._watch_exit()
        log.debug("spawned pid %s on %s", pid, master)
        return proc

    # -- state ---------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.exit_code is None

    def foreground_pgid(self) -> int | None:
        """The tty's foreground process group (the program a user would see), if known."""
        if self._closed:
            return None
        try:
            return os.tcgetpgrp(self.master_fd)
        except OSError:
            return None

    # -- output --------------------------------------------------------------
    def _on_readable(self) -> None:
        try:
            data = os.read(self.master_fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO: every slave fd is closed (Linux's end of file for a pty master).
            if exc.errno != errno.EIO:
                log.warning("reading pty of pid %s failed: %s", self.pid, exc)
            data = b""
        if data:
            self._on_output(data)
        else:
            self._stop_reading()
            self._on_eof()

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self.master_fd)

    def _drain(self) -> None:
        """Read what is already buffered (the program's last words before exit)."""
        budget = DRAIN_LIMIT
        while self._reading and budget > 0:
            try:
                data = os.read(self.master_fd, READ_SIZE)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            budget -= len(data)
            self._on_output(data)

    # -- input ---------------------------------------------------------------
    def write(self, data: bytes) -> WriteRequest:
        """Queue ``data`` for the program's input; ``future`` resolves when all is written.

        Cancel ``future`` to drop what is not written yet.
        """
        request = WriteRequest(memoryview(data), self._loop.create_future())
        if self._closed:
            request.future.set_exception(BackendError("pty is closed", pid=self.pid))
            return request
        self._queue.append(request)
        if not self._writing:
            self._flush()
        return request

    def _flush(self) -> None:
        budget = WRITE_BUDGET
        while self._queue and budget > 0:
            request = self._queue[0]
            if request.future.done():  # cancelled by a caller that gave up
                self._queue.popleft()
                continue
            chunk = request.data[request.written : request.written + budget]
            try:
                n = os.write(self.master_fd, chunk)
            except BlockingIOError:
                break
            except OSError as exc:
                self._fail_writes(BackendError(f"writing to pty failed: {exc}", pid=self.pid))
                return
            request.written += n
            budget -= n
            if request.written == request.total:
                self._queue.popleft()
                request.future.set_result(None)
        if self._queue and not self._writing:
            self._writing = True
            self._loop.add_writer(self.master_fd, self._flush)
        elif not self._queue and self._writing:
            self._writing = False
            self._loop.remove_writer(self.master_fd)

    def _fail_writes(self, exc: BaseException) -> None:
        while self._queue:
            future = self._queue.popleft().future
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no warning if the writer gave up waiting
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.master_fd)

    # -- control -------------------------------------------------------------
    def resize(self, rows: int, cols: int) -> None:
        """Set the window size; the kernel sends SIGWINCH to the foreground group."""
        set_window_size(self.master_fd, rows, cols)

    def signal_session(self, sig: int) -> None:
        """Send ``sig`` to every process of the program's session (its jobs included)."""
        targets = set(session_pids(self.pid))
        if self.alive:
            targets.add(self.pid)
        with contextlib.suppress(OSError):  # the group may be gone already
            os.killpg(self.pid, sig)
        for pid in targets:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)

    async def wait(self, *, timeout: float | None) -> int | None:  # noqa: ASYNC109
        """The exit code once the program has exited, or None after ``timeout`` s."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._exited)
        except TimeoutError:
            return None

    async def terminate(self, *, grace_s: float = 2.0, kill_wait_s: float = 2.0) -> None:
        """SIGHUP the session, SIGKILL what is left after ``grace_s``; reap; close fds."""
        if self.alive or session_pids(self.pid):
            self.signal_session(signal.SIGHUP)
            self.signal_session(signal.SIGCONT)  # stopped jobs act on SIGHUP only once resumed
            await self.wait(timeout=grace_s)
            if self.alive or session_pids(self.pid):
                log.debug("pid %s ignored SIGHUP for %s s: SIGKILL", self.pid, grace_s)
                self.signal_session(signal.SIGKILL)
                if await self.wait(timeout=kill_wait_s) is None:
                    log.warning("pid %s not reaped %s s after SIGKILL", self.pid, kill_wait_s)
        self.close()

    def close(self) -> None:
        """Stop reading and writing and close the master (a hangup for what still runs)."""
        if self._closed:
            return
        self._fail_writes(BackendError("pty closed", pid=self.pid))
        self._stop_reading()
        self._closed = True
        self._unwatch_exit()
        os.close(self.master_fd)

    # -- exit ----------------------------------------------------------------
    def _watch_exit(self) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            # No pidfd (not Linux >= 5.3): one waiting thread for this process.
            threading.Thread(target=self._wait_blocking, daemon=True, name="pty-wait").start()
            return
        self._loop.add_reader(self._pidfd, self._reap)

    def _unwatch_exit(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the code is lost
            pid, status = self.pid, 255 << 8
        if pid:
            self._unwatch_exit()
            self._exit(exit_code_of(status))

    def _wait_blocking(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
            code = exit_code_of(status)
        except ChildProcessError:
            code = 255
        self._loop.call_soon_threadsafe(self._exit, code)

    def _exit(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self._drain()
        self.exit_code = code
        self._exited.set_result(code)
        log.debug("pid %s exited with %s", self.pid, code)
        self._on_exit(code)


def set_window_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
