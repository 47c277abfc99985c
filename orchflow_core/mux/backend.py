"""What every terminal backend offers (tmux, native PTY): the ``MuxBackend`` protocol.

Ids: a pane's ``pane_id`` is the backend's own id (tmux ``%3``); ``orchflow_id``
is orchflow's stable id for it (kept in tmux as the user option ``@orchflow_id``),
which survives orchflow restarts. Every method raises from ``orchflow_core.errors``:
NotFoundError for an unknown pane or session (naming it), InvalidArgumentError for
a bad value, TmuxUnavailableError/BackendError when the backend itself fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from orchflow_core.errors import TimeoutError_
from orchflow_core.mux.keys import Key
from orchflow_core.mux.stream import DEFAULT_MAX_QUEUE, OutputSubscription

Split = Literal["window", "horizontal", "vertical"]
"""``window``: a new window; ``horizontal``: side by side; ``vertical``: one above the other."""

SPLITS: tuple[str, ...] = ("window", "horizontal", "vertical")
DEFAULT_WAIT_S = 300.0


@dataclass(frozen=True, slots=True)
class SessionInfo:
    name: str
    id: str  # backend's id: tmux "$3"


@dataclass(frozen=True, slots=True)
class PaneInfo:
    pane_id: str  # backend's id: tmux "%3"
    orchflow_id: str  # stable id, tmux user option @orchflow_id
    session: str  # session name
    name: str  # @orchflow_name
    pane_type: str  # @orchflow_type: "shell", "agent", "test" ...
    cwd: str
    command: str  # the program running in the pane now
    dead: bool
    exit_code: int | None  # when dead
    pid: int | None
    shell: str = ""  # @orchflow_shell: the integrated shell orchflow started, "" if none


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_code: int
    duration_s: float


class CommandHandle:
    """A command started by ``MuxBackend.run``; the backend resolves it when the shell reports.

    ``wait()`` returns the ``CommandResult``; ``interrupt()`` sends C-c (the command
    then usually finishes with exit code 130); ``cancel()`` stops tracking it: the
    command keeps running and ``wait()`` raises ``asyncio.CancelledError``.
    """

    def __init__(
        self,
        pane_id: str,
        command: str,
        token: str,
        *,
        interrupt: Callable[[], Awaitable[None]],
        on_cancel: Callable[[CommandHandle], None] | None = None,
    ) -> None:
        self.pane_id = pane_id
        self.command = command
        self.token = token
        self.started_at = time.monotonic()
        self._future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._interrupt = interrupt
        self._on_cancel = on_cancel

    def done(self) -> bool:
        return self._future.done()

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_at

    async def wait(self, *, timeout: float | None = DEFAULT_WAIT_S) -> CommandResult:  # noqa: ASYNC109 - bounded wait is part of the API
        """The result once the command finished; TimeoutError_ after ``timeout`` s (it runs on)."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._future)
        except TimeoutError:
            raise TimeoutError_(
                f"command in pane {self.pane_id} still running after {timeout} s",
                pane_id=self.pane_id,
                timeout=timeout,
            ) from None

    async def interrupt(self) -> None:
        """Send C-c to the pane."""
        await self._interrupt()

    def cancel(self) -> None:
        """Stop tracking (idempotent); the command itself is not stopped."""
        if not self._future.done():
            self._future.cancel()
        if self._on_cancel is not None:
            self._on_cancel(self)
            self._on_cancel = None

    # -- for backends --------------------------------------------------------
    def resolve(self, exit_code: int) -> None:
        if not self._future.done():
            self._future.set_result(CommandResult(exit_code, time.monotonic() - self.started_at))

    def fail(self, exc: BaseException) -> None:
        if not self._future.done():
            self._future.set_exception(exc)
            self._future.exception()  # retrieved: no "never retrieved" warning if nobody waits


@runtime_checkable
class MuxBackend(Protocol):
    """A terminal multiplexer orchflow can drive. All methods are coroutines except where noted."""

    async def start(self) -> None:
        """Connect (and discover existing orchflow panes). Idempotent."""

    async def close(self) -> None:
        """Release the backend's own resources; panes live on (tmux). Idempotent."""

    async def create_session(self, name: str, *, cwd: str | None = None) -> SessionInfo: ...

    async def list_sessions(self) -> list[SessionInfo]: ...

    async def rename_session(self, old: str, new: str) -> SessionInfo: ...

    async def kill_session(self, name: str) -> None: ...

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
        """A new pane; ``target`` is the pane to split (default: the session's current pane)."""
        ...

    async def list_panes(self, session: str | None = None) -> list[PaneInfo]:
        """Orchflow's panes only (those tagged @orchflow_id), of one session or all."""
        ...

    async def get_pane(self, pane_id: str) -> PaneInfo: ...

    async def resize_pane(
        self, pane_id: str, *, width: int | None = None, height: int | None = None
    ) -> None: ...

    async def focus_pane(self, pane_id: str) -> None: ...

    async def close_pane(self, pane_id: str) -> None: ...

    async def send_text(
        self, pane_id: str, text: str, *, paste: bool = False, enter: bool = False
    ) -> None:
        """Type ``text`` literally: every character arrives byte-exact, nothing is interpreted;
        ``enter``: then press the Enter key (a key, not a typed newline), in the same write.

        ``paste``: send it as a bracketed paste, so a line editor that asked for bracketed
        paste (bash, zsh and fish do) inserts tabs and the like as text instead of acting
        on them (completion)."""
        ...

    async def send_keys(self, pane_id: str, *keys: Key) -> None: ...

    async def run(self, pane_id: str, cmd: str) -> CommandHandle:
        """Type ``cmd`` into the pane's shell and return a handle on its completion."""
        ...

    async def subscribe(
        self, pane_id: str, *, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> OutputSubscription:
        """Live output (raw bytes as the program wrote them), starting with what is buffered."""
        ...

    async def capture(self, pane_id: str, *, start: int | None = None) -> str:
        """Snapshot of the pane's text: from line ``start`` (negative: into history) or all."""
        ...
