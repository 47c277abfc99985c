"""Turns what shells report into Runs: ``run()``, ``run.*`` and the ``run.*`` events.

The manager owns one ``RunTracker``. Two sources feed it:

- **shell marks** (``ShellMark`` from panes whose shell has orchflow's integration): a ``C``
  mark starts a run, the ``D`` mark with the same shell pid and sequence number ends it
  with the shell's ``$?``; a ``P`` (prompt) mark with a newer sequence number, or from
  another shell, means the run's end was never seen, so it is lost. A command that
  ``run()`` typed is matched to its ``C`` mark by its text and keeps ``source = run``;
  anything else is ``typed``.
- **the wrapper** (panes without integration): ``backend.run`` types the command inside
  ``( … eval … ); printf <marker>`` and its ``CommandHandle`` resolves with the exit code.

Events: ``run.started`` and ``run.finished`` carry the whole run (``Run.to_dict()``);
``run.finished`` is published after the run and its history entry are written, so a
listener that reads them back sees them. ``command.finished`` (the pre-run event) is
still published beside it for listeners written against it.

Writes go through one serial queue, so a run's start is stored before its end.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    TimeoutError_,
)
from orchflow_core.events import Event
from orchflow_core.mux.backend import CommandHandle
from orchflow_core.mux.keys import Key
from orchflow_core.mux.shell_integration import ShellMark, unwrap_echo
from orchflow_core.terminal.runs import (
    Run,
    RunEvent,
    RunStore,
    integrated_run_id,
    random_run_id,
)
from orchflow_core.terminal.state import PaneEvent, PaneState

if TYPE_CHECKING:
    from orchflow_core.terminal.manager import PaneRecord, TerminalManager

log = logging.getLogger(__name__)

DEFAULT_START_TIMEOUT_S = 10.0
DEFAULT_CANCEL_WAIT_S = 2.0
MAX_WAIT_S = 24 * 3600.0
_RECENT = 512  # runs kept in memory for run.get / run.wait without a database read
_POLL_S = 0.05
_CANCEL_AGAIN_S = 0.5  # run.wait on a run another process tracks: how often to re-read it


@dataclass(slots=True)
class _Pending:
    """A command ``run()`` typed into an integrated shell, waiting for its ``C`` mark."""

    command: str
    source: str
    future: asyncio.Future[Run]
    # Its keys went to the pane after prompt number ``typed_at`` (None: not yet typed): a
    # newer prompt without a start mark means the shell never ran it.
    typed_at: int | None = None
    # Another command started after it was typed: the shell was still busy, so the keys
    # wait in the tty; the prompt after that command is the one they go to.
    deferred: bool = False


class RunTracker:
    def __init__(
        self, manager: TerminalManager, *, start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    ) -> None:
        self._tm = manager
        self.store = RunStore(manager.db)
        self.start_timeout_s = start_timeout_s
        self._active: dict[str, Run] = {}  # pane orchflow id -> its running integrated run
        self._pending: dict[str, deque[_Pending]] = {}
        self._recent: OrderedDict[str, Run] = OrderedDict()
        self._waiters: dict[str, list[asyncio.Future[Run]]] = {}
        self._handles: dict[str, CommandHandle] = {}  # wrapper runs
        # Whether the pane's shell shows its prompt (False: a command or the rc files run;
        # absent: not known, e.g. a shell already idle when this process attached).
        self._at_prompt: dict[str, bool] = {}
        self._prompt_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._prompt_no: dict[str, tuple[int, int]] = {}  # pane -> (shell pid, prompt number)
        self._early_prompts: dict[str, ShellMark] = {}  # tmux pane id -> a P mark seen early
        self._queue: asyncio.Queue[Callable[[], Awaitable[None]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        manager.events.subscribe(self._on_pane_closed, kinds=("pane.closed",))
        manager.events.subscribe(self._on_pane_created, kinds=("pane.created",))

    async def close(self) -> None:
        if self._queue is not None:
            await self._queue.join()
        for task in [*self._tasks, *([self._worker] if self._worker else [])]:
            task.cancel()

    # -- serial writes -----------------------------------------------------------------
    def _later(self, step: Callable[[], Awaitable[None]]) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain(self._queue))
        self._queue.put_nowait(step)

    @staticmethod
    async def _drain(queue: asyncio.Queue[Callable[[], Awaitable[None]]]) -> None:
        while True:
            step = await queue.get()
            try:
                await step()
            except Exception:
                log.exception("could not store a run")
            finally:
                queue.task_done()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember(self, run: Run) -> None:
        self._recent[run.id] = run
        self._recent.move_to_end(run.id)
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    # -- shell marks ---------------------------------------------------------------------
    def on_mark(self, pane_id: str, mark: ShellMark) -> None:
        rec = self._tm.record_by_pane_id(pane_id)
        log.debug("shell mark in %s: %s", pane_id, mark)
        if rec is None:
            if mark.kind == "P":  # a pane being created: its first prompt came first
                self._early_prompts[pane_id] = mark
                while len(self._early_prompts) > _RECENT:
                    self._early_prompts.pop(next(iter(self._early_prompts)))
            return
        if mark.kind == "C":
            self._started(rec, mark)
        elif mark.kind == "D":
            self._ended(rec, mark)
        else:
            if not rec.shell and mark.shell:
                rec.shell = mark.shell
            self._at_prompt[rec.orchflow_id] = True
            prompt = mark.prompt if mark.prompt is not None else -1
            self._prompt_no[rec.orchflow_id] = (mark.shell_pid, prompt)
            queue = self._pending.get(rec.orchflow_id, deque())
            for pending in [p for p in queue if p.deferred]:
                pending.deferred, pending.typed_at = False, prompt
            for pending in [p for p in queue if p.typed_at is not None and prompt > p.typed_at]:
                queue.remove(pending)
                if rec.shell == "fish":  # fish keeps a line it could not parse: clear ours
                    self._spawn(self._tm.backend.send_keys(rec.pane_id, Key.C_E, Key.C_U))
                if not pending.future.done():
                    # The shell showed a new prompt without starting the command:
                    # it did not parse (the shell printed why in the pane).
                    pending.future.set_exception(
                        InvalidArgumentError(
                            f"the {rec.shell} shell in pane {rec.name or rec.pane_id} did not"
                            f" run {pending.command!r}: it showed a new prompt instead (a"
                            " syntax error? its message is in the pane)",
                            pane=rec.pane_id,
                        )
                    )
            for waiter in self._prompt_waiters.pop(rec.orchflow_id, []):
                if not waiter.done():
                    waiter.set_result(None)
            active = self._active.get(rec.orchflow_id)
            if active is not None and active.id != integrated_run_id(
                rec.orchflow_id, mark.shell_pid, mark.seq
            ):
                self._finish(rec, active, RunEvent.LOSE, None)

    def _started(self, rec: PaneRecord, mark: ShellMark) -> None:
        self._at_prompt[rec.orchflow_id] = False
        command = mark.command or ""
        if unwrap_echo(command) != command:
            return  # the wrapper's own line: its run is tracked by its CommandHandle
        run_id = integrated_run_id(rec.orchflow_id, mark.shell_pid, mark.seq)
        previous = self._active.get(rec.orchflow_id)
        if previous is not None:
            if previous.id == run_id:
                return
            self._finish(rec, previous, RunEvent.LOSE, None)
        source = "typed"
        pending = self._match_pending(rec.orchflow_id, command)
        if pending is not None:
            source, command = pending.source, pending.command
        else:
            for other in self._pending.get(rec.orchflow_id, ()):
                if other.typed_at is not None:
                    other.deferred = True
        run = Run(
            id=run_id,
            pane=rec.orchflow_id,
            pane_id=rec.pane_id,
            command=command,
            cwd=mark.cwd,
            source=source,
            started_at=time.time(),
            pane_name=rec.name,
        )
        self._active[rec.orchflow_id] = run
        self._begin(rec, run)
        if pending is not None and not pending.future.done():
            pending.future.set_result(run)

    def _match_pending(self, pane: str, command: str) -> _Pending | None:
        queue = self._pending.get(pane)
        if not queue:
            return None
        typed = command.strip()
        for i, pending in enumerate(queue):
            sent = pending.command.strip()
            # bash reports the first simple command when the line stayed out of its
            # history (HISTCONTROL=ignorespace ...): accept that prefix too.
            if typed == sent or (typed and sent.startswith(typed)):
                del queue[i]
                return pending
        return None

    def _ended(self, rec: PaneRecord, mark: ShellMark) -> None:
        run_id = integrated_run_id(rec.orchflow_id, mark.shell_pid, mark.seq)
        run = self._active.get(rec.orchflow_id)
        if run is None or run.id != run_id:
            # A command that started before this process watched the pane (it restarted, or
            # another process saw the start): end its row, if one is stored and running.
            code, duration = mark.exit_code, mark.duration_s

            async def end_stored() -> None:
                ended = await self.store.end_running(run_id, code, duration)
                if ended is not None:
                    self._tm.events.publish("run.finished", **ended)

            self._later(end_stored)
            return
        event = RunEvent.CANCEL if run.cancel_requested else RunEvent.FINISH
        self._finish(rec, run, event, mark.exit_code, mark.duration_s)

    # -- one run's life ------------------------------------------------------------------
    def _begin(self, rec: PaneRecord, run: Run) -> None:
        self._remember(run)
        rec.last_command = run.command
        if rec.state is not PaneState.CLOSED and rec.state is not PaneState.EXITED:
            self._tm._set_state(rec, PaneEvent.RUN)
        self._tm.events.publish("run.started", **run.to_dict())

        async def store() -> None:
            if run.done:
                return  # it ended before this step ran: the end's step stores it all
            await self.store.save(run)
            await self._tm._save(rec)

        self._later(store)

    def _finish(
        self,
        rec: PaneRecord | None,
        run: Run,
        event: RunEvent,
        code: int | None,
        duration_s: float | None = None,
    ) -> None:
        if run.done:
            return
        run.end(event, code, duration_s)
        if rec is not None and self._active.get(rec.orchflow_id) is run:
            del self._active[rec.orchflow_id]
        if rec is not None and rec.state is PaneState.RUNNING:
            rec.exit_code = code
            self._tm._set_state(rec, PaneEvent.FINISHED)

        async def store() -> None:
            recorder = self._tm.recorder
            history = recorder if event is not RunEvent.LOSE and run.command else None
            add_in = getattr(history, "add_in", None)
            if history is not None and getattr(history, "db", None) is not self._tm.db:
                add_in = None  # another database: its own transaction, below

            def also(conn: sqlite3.Connection) -> None:
                RunStore.save_in(conn, run)
                if add_in is not None:
                    try:
                        add_in(
                            conn,
                            run.command,
                            cwd=run.cwd,
                            pane_type=rec.pane_type if rec is not None else None,
                            exit_code=run.exit_code,
                            duration_s=run.duration_s,
                        )
                    except OrchflowError as exc:  # a command history refuses (too long...)
                        log.info("run %s not added to history: %s", run.id, exc.message)

            # The run, its pane and its history entry: one commit.
            alive = rec if rec is not None and rec.state is not PaneState.CLOSED else None
            await self._tm.save_with(alive, also)
            if history is not None and add_in is None:
                try:
                    await history.add(
                        run.command,
                        cwd=run.cwd,
                        pane_type=rec.pane_type if rec is not None else None,
                        exit_code=run.exit_code,
                        duration_s=run.duration_s,
                    )
                except Exception:
                    log.exception("could not record %r in history", run.command)
            self._tm.events.publish("run.finished", **run.to_dict())
            self._tm.events.publish(
                "command.finished",
                pane=run.pane_id,
                name=run.pane_name,
                command=run.command,
                exit_code=run.exit_code,
                duration_s=run.duration_s,
                run=run.id,
            )
            for future in self._waiters.pop(run.id, []):
                if not future.done():
                    future.set_result(run)

        self._later(store)

    def _on_pane_created(self, event: Event) -> None:
        pane, pane_id = event.data.get("id"), event.data.get("pane_id")
        if isinstance(pane, str) and event.data.get("shell_integration"):
            self._at_prompt.setdefault(pane, False)  # its rc files run first
            early = self._early_prompts.pop(pane_id, None) if isinstance(pane_id, str) else None
            if early is not None and isinstance(pane_id, str):
                self.on_mark(pane_id, early)

    def _on_pane_closed(self, event: Event) -> None:
        pane = event.data.get("id")
        if not isinstance(pane, str):
            return
        self._at_prompt.pop(pane, None)
        self._prompt_no.pop(pane, None)
        for waiter in self._prompt_waiters.pop(pane, []):
            if not waiter.done():
                waiter.set_exception(
                    NotFoundError(f"pane {event.data.get('pane_id')} closed", pane=pane)
                )
        run = self._active.pop(pane, None)
        if run is not None:
            self._finish(None, run, RunEvent.LOSE, None)
        for pending in self._pending.pop(pane, deque()):
            if not pending.future.done():
                pending.future.set_exception(
                    NotFoundError(f"pane {event.data.get('pane_id')} closed", pane=pane)
                )

        async def lose() -> None:
            await self.store.lose_running(pane)

        self._later(lose)

    # -- API -------------------------------------------------------------------------------
    async def run(self, ref: str, command: str, *, source: str = "run") -> dict[str, Any]:
        """Type ``command`` in the pane; returns the run once the shell started it (an
        integrated shell) or once it was typed (the wrapper). ``run.finished`` follows."""
        if not isinstance(command, str) or not command.strip() or "\x00" in command:
            raise InvalidArgumentError(
                f"bad command {command!r}: expected non-empty text without NUL", param="cmd"
            )
        if source not in ("run", "agent"):
            raise InvalidArgumentError(
                f"source must be 'run' or 'agent', got {source!r}", param="source"
            )
        rec = self._tm.resolve(ref)
        if rec.state is PaneState.EXITED:
            raise ConflictError(
                f"pane {rec.name or rec.pane_id} has exited (code {rec.exit_code}); open a new one",
                pane=rec.pane_id,
            )
        if rec.shell and "\n" not in command and "\r" not in command:
            return await self._run_integrated(rec, command, source)
        return await self._run_wrapped(rec, command, source)

    async def _run_integrated(self, rec: PaneRecord, command: str, source: str) -> dict[str, Any]:
        control = any(c < " " or c == "\x7f" for c in command)
        if control and rec.shell == "fish":
            # fish drops them from pasted text and acts on them when typed
            raise InvalidArgumentError(
                f"fish in pane {rec.name or rec.pane_id} cannot take a tab or other control"
                f" character in a command line ({command!r}); write it as an escape in a"
                " fish string instead (\\t)",
                param="cmd",
            )
        busy = self._active.get(rec.orchflow_id)
        if busy is not None or self._pending.get(rec.orchflow_id):
            what = f"{busy.command!r} (run {busy.id})" if busy else "a command orchflow typed"
            raise ConflictError(
                f"pane {rec.name or rec.pane_id} is running {what}: wait for it or cancel it"
                " (run.cancel), or open another pane",
                pane=rec.pane_id,
            )
        future: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        pending = _Pending(command, source, future)
        self._pending.setdefault(rec.orchflow_id, deque()).append(pending)
        try:
            async with asyncio.timeout(self.start_timeout_s):
                if self._at_prompt.get(rec.orchflow_id) is False:
                    # Typed before the prompt, the line would be echoed twice (once by the
                    # tty, once by the line editor): wait for the prompt mark.
                    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    self._prompt_waiters.setdefault(rec.orchflow_id, []).append(ready)
                    await ready
                pending.typed_at = self._prompt_no.get(rec.orchflow_id, (0, 1 << 62))[1]
                # Tabs and other control characters as text, not as keys (completion):
                # a bracketed paste; plain text is typed.
                await self._tm.backend.send_text(rec.pane_id, command, paste=control, enter=True)
                run = await asyncio.shield(future)
        except TimeoutError:
            where = f"the {rec.shell} shell in pane {rec.name or rec.pane_id}"
            if pending.typed_at is not None and not pending.deferred:
                # Typed at a prompt and neither started nor refused: the shell waits for
                # the rest of the line (an open quote or bracket). Take the line back.
                self._at_prompt[rec.orchflow_id] = False  # the shell marks a new prompt
                await self._tm.backend.send_keys(rec.pane_id, Key.C_C)
                raise InvalidArgumentError(
                    f"{where} did not start {command!r} within {self.start_timeout_s:g} s: it"
                    " waits for more input (an unclosed quote or bracket?); the line was"
                    " cancelled with C-c",
                    pane=rec.pane_id,
                ) from None
            raise TimeoutError_(
                f"{where} did not report the command starting within"
                f" {self.start_timeout_s:g} s (it was typed; is the shell busy, or was its"
                " shell integration replaced? see :help orchflow-shell-integration)",
                pane=rec.pane_id,
            ) from None
        finally:
            queue = self._pending.get(rec.orchflow_id)
            if queue is not None and pending in queue:
                queue.remove(pending)
        return run.to_dict()

    async def _run_wrapped(self, rec: PaneRecord, command: str, source: str) -> dict[str, Any]:
        handle = await self._tm.backend.run(rec.pane_id, command)
        run = Run(
            id=random_run_id(),
            pane=rec.orchflow_id,
            pane_id=rec.pane_id,
            command=command,
            cwd=rec.cwd,
            source=source,
            started_at=time.time(),
            pane_name=rec.name,
        )
        self._handles[run.id] = handle
        self._begin(rec, run)
        task = asyncio.create_task(self._await_handle(rec, run, handle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run.to_dict()

    async def _await_handle(self, rec: PaneRecord, run: Run, handle: CommandHandle) -> None:
        try:
            result = await handle.wait(timeout=None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("run %s in %s ended without an exit code: %s", run.id, rec.pane_id, exc)
            self._finish(rec, run, RunEvent.LOSE, None)
            return
        finally:
            self._handles.pop(run.id, None)
        event = RunEvent.CANCEL if run.cancel_requested else RunEvent.FINISH
        self._finish(rec, run, event, result.exit_code, result.duration_s)

    async def wait_prompt(self, pane: str, *, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> None:
        """Return once the pane's integrated shell shows its prompt (at once if that is
        already so, or not known: a pane without integration, or seen idle at attach)."""
        _check_timeout(timeout_s)
        oid = self._tm.resolve(pane).orchflow_id
        if self._at_prompt.get(oid) is not False:
            return
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._prompt_waiters.setdefault(oid, []).append(ready)
        try:
            async with asyncio.timeout(timeout_s):
                await ready
        except TimeoutError:
            raise TimeoutError_(
                f"pane {pane} showed no prompt within {timeout_s:g} s", pane=pane
            ) from None

    async def get(self, run_id: str) -> dict[str, Any]:
        _check_id(run_id)
        run = self._recent.get(run_id)
        if run is not None:
            return run.to_dict()
        row = await self.store.get(run_id)
        if row is None:
            raise NotFoundError(f"no run {run_id!r} (see run.list)", id=run_id)
        return row

    async def list(self, *, pane: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        oid = self._tm.resolve(pane).orchflow_id if pane is not None else None
        await self._settled()
        return await self.store.list(pane=oid, limit=limit)

    async def _settled(self) -> None:
        """Wait until what this process saw is written (so a list includes it)."""
        if self._queue is not None:
            await self._queue.join()

    async def wait(self, run_id: str, *, timeout_s: float = 30.0) -> dict[str, Any]:
        _check_timeout(timeout_s)
        current = await self.get(run_id)
        if current["state"] != "running":
            await self._settled()  # what the caller reads next is stored
            return current
        run = self._recent.get(run_id)
        try:
            async with asyncio.timeout(timeout_s):
                if run is not None and not run.done:
                    future: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
                    self._waiters.setdefault(run_id, []).append(future)
                    return (await future).to_dict()
                while True:  # a run another process tracks: its row changes when it ends
                    await asyncio.sleep(_POLL_S)
                    row = await self.store.get(run_id)
                    if row is not None and row["state"] != "running":
                        return row
        except TimeoutError:
            raise TimeoutError_(
                f"run {run_id} ({current['command']!r}) still running after {timeout_s:g} s",
                id=run_id,
                timeout_s=timeout_s,
            ) from None

    async def cancel(
        self, run_id: str, *, timeout_s: float = DEFAULT_CANCEL_WAIT_S
    ) -> dict[str, Any]:
        """Interrupt the run (C-c in its pane) and wait up to ``timeout_s`` for it to end."""
        _check_timeout(timeout_s)
        current = await self.get(run_id)
        if current["state"] != "running":
            return current
        run = self._recent.get(run_id)
        if run is not None:
            run.cancel_requested = True
        handle = self._handles.get(run_id)
        pane_id = ""
        if handle is None:
            try:
                pane_id = self._tm.resolve(current["pane"]).pane_id
            except NotFoundError:
                raise NotFoundError(
                    f"run {run_id}'s pane is gone; nothing to cancel", id=run_id
                ) from None
        # C-c again every half second: one that lands while the shell is still starting
        # the command (its preexec hook) can be lost.
        deadline = time.monotonic() + timeout_s
        while True:
            if handle is not None:
                await handle.interrupt()
            else:
                await self._tm.backend.send_keys(pane_id, Key.C_C)
            left = deadline - time.monotonic()
            try:
                return await self.wait(run_id, timeout_s=max(0.0, min(left, _CANCEL_AGAIN_S)))
            except TimeoutError_:
                if time.monotonic() >= deadline:
                    return await self.get(run_id)


def _check_id(run_id: object) -> None:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidArgumentError(f"a run id is required, got {run_id!r}", param="id")


def _check_timeout(timeout_s: object) -> None:
    if (
        not isinstance(timeout_s, int | float)
        or isinstance(timeout_s, bool)
        or not 0 <= timeout_s <= MAX_WAIT_S
    ):
        raise InvalidArgumentError(
            f"timeout_s must be a number of seconds from 0 to {MAX_WAIT_S:g}, got {timeout_s!r}",
            param="timeout_s",
        )
