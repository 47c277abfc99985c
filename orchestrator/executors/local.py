"""The local executor: each task a real command in a tmux pane, through core's
TerminalManager.

- **Panes are pooled.** A pane is a shell with orchflow's integration (``pane_type``
  ``swarm``, meta ``{"swarm_pool": <cwd>}``). ``warm(cwd, n)`` makes up to ``n`` of them
  ahead (concurrently, waiting for their first prompt); a task takes an idle one of its
  cwd, and gives it back when it ended (at most ``pool_max`` stay idle, the rest are
  closed). Before a task the pane is reset (screen and scrollback cleared), so what it
  shows, and what is captured, is that task's alone. Pool panes outlive the orchestrator;
  a restarted one finds idle ones by their meta. A pane idle for ``pane_idle_s``
  (``[swarm] pane_idle_s``) is closed; the ones an earlier orchestrator left are timed
  from ``adopt_idle()`` (the swarm manager calls it at start).
- **Runs.** The command is typed with ``tm.run(..., origin="swarm")``: the rules apply to
  it (a blocked command is an error for its task), it has a run id, and its exit code is
  the shell's ``$?`` from the integration's end mark.
- **Output** goes to the pane; tmux keeps its ``history-limit`` lines. At the end the
  pane is captured: ``output`` is at most ``max_output_bytes`` of it (the end kept) and
  ``tail`` its last ``tail_lines`` lines (at most ``tail_bytes``). A command printing
  100 MB costs tmux and the output stream, never a growing buffer here.
- **Timeout / kill.** The command's processes are the descendants of the pane's shell
  (``ps``): each gets SIGTERM, then SIGKILL after ``kill_grace_s``, with the process
  groups they lead, so children go too. A child that made itself a daemon (a new session,
  re-parented to init) is out of reach, as it would be for a terminal's C-c.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal as signals
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orchestrator.executors.base import Ending, Handle, Outcome, Spec, Status
from orchflow_core.errors import NotFoundError, OrchflowError, TimeoutError_, UnavailableError
from orchflow_core.terminal.state import PaneState

if TYPE_CHECKING:
    from orchflow_core.terminal.manager import PaneRecord, TerminalManager

log = logging.getLogger(__name__)

POOL = "swarm_pool"  # pane meta key: the cwd a pooled pane was made for
PANE_TYPE = "swarm"
DEFAULT_POOL_MAX = 16
DEFAULT_TAIL_LINES = 20
DEFAULT_TAIL_BYTES = 4096
DEFAULT_MAX_OUTPUT_BYTES = 1 << 20
DEFAULT_KILL_GRACE_S = 2.0
DEFAULT_PROMPT_WAIT_S = 2.0
DEFAULT_PANE_IDLE_S = 300.0
_WAIT_STEP_S = 3600.0  # run_tracker.wait is bounded; a long task waits in steps
_SHELL_POLL_S = 0.5  # how often a running task's pane is checked for a shell that ended
_SHELL_GONE_GRACE_S = 0.5  # then how long its run may still be recorded as ended
_CAPTURE_LINES = 10_000
_EOL_MARK = re.compile(r"^(.*?)[%#⏎] {8,}$")  # zsh's and fish's mark of a line without \n

TerminalsGetter = Callable[[], Awaitable["TerminalManager"]]


class LocalExecutor:
    name = "local"

    def __init__(
        self,
        terminals: TerminalsGetter,
        *,
        pool_max: int = DEFAULT_POOL_MAX,
        tail_lines: int = DEFAULT_TAIL_LINES,
        tail_bytes: int = DEFAULT_TAIL_BYTES,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        kill_grace_s: float = DEFAULT_KILL_GRACE_S,
        pool: bool = True,
        pane_idle_s: float | None = DEFAULT_PANE_IDLE_S,
    ) -> None:
        """``pool=False`` makes a new pane for every task and closes it after (the
        benchmark's floor for what the pool saves). ``pane_idle_s``: an idle pooled pane
        is closed after it (None: kept)."""
        self._terminals = terminals
        self.pool_max = pool_max
        self.tail_lines = tail_lines
        self.tail_bytes = tail_bytes
        self.max_output_bytes = max_output_bytes
        self.kill_grace_s = kill_grace_s
        self.pool = pool
        self._busy: dict[str, str] = {}  # pane orchflow id -> the key of what runs there
        self._killed: set[str] = set()  # run ids killed by kill() (a cancel)
        self._reattached: set[str] = set()  # run ids this process did not start
        self.pane_idle_s = pane_idle_s
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}  # pane orchflow id -> its close
        self._closing: set[asyncio.Task[None]] = set()
        self.made = 0
        self.reused = 0
        self.closed_idle = 0

    # -- the pool ----------------------------------------------------------------------
    def _idle(self, tm: TerminalManager, cwd: str) -> list[PaneRecord]:
        return [
            r
            for r in tm.records(meta_key=POOL)
            if r.meta.get(POOL) == cwd
            and r.state is PaneState.IDLE
            and r.orchflow_id not in self._busy
        ]

    async def _new_pane(self, tm: TerminalManager, cwd: str) -> str:
        pane = await tm.new_pane(
            pane_type=PANE_TYPE,
            name=f"swarm-{secrets.token_hex(3)}",
            cwd=cwd,
            meta={POOL: cwd},
            origin="swarm",
        )
        self.made += 1
        return str(pane["id"])

    async def warm(self, cwd: str, n: int) -> int:
        """Make idle panes for ``cwd`` until ``n`` are idle (at most ``pool_max``), each
        waited for until its shell shows a prompt. Returns how many were made."""
        if not self.pool:
            return 0
        tm = await self._terminals()
        need = min(n, self.pool_max) - len(self._idle(tm, cwd))
        if need <= 0:
            return 0
        refs = await asyncio.gather(*(self._new_pane(tm, cwd) for _ in range(need)))
        for ref in refs:
            with contextlib.suppress(OrchflowError):  # a slow rc file: the run waits instead
                await tm.run_tracker.wait_prompt(ref, timeout_s=DEFAULT_PROMPT_WAIT_S)
        self._arm_idle(tm)
        return len(refs)

    # -- idle panes are closed -----------------------------------------------------------
    async def adopt_idle(self) -> int:
        """Time the idle pooled panes not timed yet (an earlier orchestrator's); how many."""
        tm = await self._terminals()
        await tm.refresh()
        return self._arm_idle(tm)

    def _arm_idle(self, tm: TerminalManager) -> int:
        """Start the idle clock of every idle pooled pane that has none."""
        if self.pane_idle_s is None:
            return 0
        loop = asyncio.get_running_loop()
        armed = 0
        for rec in tm.records(meta_key=POOL):
            ref = rec.orchflow_id
            if (
                rec.state is PaneState.IDLE
                and ref not in self._busy
                and ref not in self._idle_timers
            ):
                self._idle_timers[ref] = loop.call_later(self.pane_idle_s, self._expire, tm, ref)
                armed += 1
        return armed

    def _disarm(self, ref: str) -> None:
        timer = self._idle_timers.pop(ref, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, tm: TerminalManager, ref: str) -> None:
        self._idle_timers.pop(ref, None)
        if ref in self._busy:
            return
        self._busy[ref] = "closing: idle"  # nobody takes it while it closes
        task = asyncio.get_running_loop().create_task(self._close_idle(tm, ref))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_idle(self, tm: TerminalManager, ref: str) -> None:
        try:
            rec = tm.resolve(ref)
            if rec.state is PaneState.IDLE:
                await tm.close_pane(ref)
                self.closed_idle += 1
                log.info("pool pane %s idle for %g s: closed", rec.pane_id, self.pane_idle_s)
        except OrchflowError as exc:  # gone already, or tmux went away
            log.info("closing idle pool pane %s: %s", ref, exc.message)
        finally:
            self._busy.pop(ref, None)

    async def _take(self, tm: TerminalManager, cwd: str, key: str) -> str:
        """An idle pooled pane whose shell is still in ``cwd`` (a task that ran ``cd``
        leaves its shell elsewhere: that pane is closed), else a new one."""
        while self.pool and (idle := self._idle(tm, cwd)):
            rec = idle[0]
            self._busy[rec.orchflow_id] = key  # before any await: nobody else takes it
            self._disarm(rec.orchflow_id)
            try:
                info = await tm.backend.get_pane(rec.pane_id)
            except NotFoundError:
                self._busy.pop(rec.orchflow_id, None)
                await tm.refresh()
                continue
            if os.path.realpath(info.cwd) == os.path.realpath(cwd):
                self.reused += 1
                return rec.orchflow_id
            log.info("pane %s left %s (now in %s): closed", rec.pane_id, cwd, info.cwd)
            with contextlib.suppress(OrchflowError):
                await tm.close_pane(rec.orchflow_id)
            self._busy.pop(rec.orchflow_id, None)
        self._busy[f"making:{key}"] = key  # counted busy while made
        try:
            ref = await self._new_pane(tm, cwd)
        finally:
            self._busy.pop(f"making:{key}", None)
        self._busy[ref] = key
        return ref

    async def _give_back(self, tm: TerminalManager, ref: str) -> None:
        self._busy.pop(ref, None)
        try:
            rec = tm.resolve(ref)
        except NotFoundError:
            return
        if rec.state is PaneState.CLOSED:
            return
        cwd = str(rec.meta.get(POOL, ""))
        if (
            not self.pool
            or rec.state is PaneState.EXITED
            or len(self._idle(tm, cwd)) > self.pool_max
        ):
            with contextlib.suppress(OrchflowError):
                await tm.close_pane(ref)
        else:
            self._arm_idle(tm)

    # -- Executor --------------------------------------------------------------------
    async def spawn(self, spec: Spec) -> Handle:
        if spec.host not in (None, "local"):
            raise UnavailableError(
                f"host {spec.host!r}: the local executor runs tasks on this machine only"
                ' (the Ray executor places tasks by node label: [executor] kind = "ray")',
                feature="executors",
            )
        tm = await self._terminals()
        ref = await self._take(tm, spec.cwd, spec.key)
        try:
            rec = tm.resolve(ref)
            reset = getattr(tm.backend, "reset_pane", None)
            if reset is not None:
                await reset(rec.pane_id)
            run = await tm.run(ref, spec.command, origin="swarm")
        except BaseException:
            await self._give_back(tm, ref)
            raise
        log.debug("%s runs %s in pane %s", spec.key, run["id"], rec.pane_id)
        return Handle(
            executor=self.name,
            key=spec.key,
            ref=ref,
            run_id=str(run["id"]),
            pane_id=rec.pane_id,
            started_at=float(run.get("started_at") or time.time()),
            command=spec.command,
        )

    async def wait(self, handle: Handle, *, timeout_s: float | None) -> Outcome:
        tm = await self._terminals()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        ending, reason = Ending.EXITED, None
        try:
            try:
                ended = await self._wait_run(tm, handle.run_id, deadline, handle.ref)
            except TimeoutError_:
                killed = await self._kill_tree(tm, handle)
                ending = Ending.TIMED_OUT
                reason = f"timed out after {timeout_s:g} s; killed {killed} process(es)"
                try:
                    ended = await tm.run_tracker.wait(
                        handle.run_id, timeout_s=self.kill_grace_s + 5.0
                    )
                except TimeoutError_:
                    ended = {"state": "running", "exit_code": None}
            except NotFoundError as exc:
                ended, ending, reason = (
                    {"state": "lost", "exit_code": None},
                    Ending.LOST,
                    exc.message,
                )
            state = str(ended.get("state"))
            if ending is Ending.EXITED:
                if state == "cancelled" or handle.run_id in self._killed:
                    ending = Ending.KILLED
                elif state == "shell_exited":
                    if not isinstance(ended.get("exit_code"), int):
                        ending = Ending.LOST
                    reason = (
                        "the command ended its pane's shell (exit?) before its end was marked"
                        + ("" if ending is Ending.EXITED else "; its exit status is not known")
                    )
                elif state != "finished":
                    ending = Ending.LOST
                    reason = "its pane or shell went away before it ended"
            code = ended.get("exit_code")
            output = await self._output(tm, handle) if ending is not Ending.LOST else ""
        finally:
            self._killed.discard(handle.run_id)
            self._reattached.discard(handle.run_id)
            await self._give_back(tm, handle.ref)
        lines = output.split("\n")[-self.tail_lines :] if output else []
        tail = "\n".join(lines)[-self.tail_bytes :]
        return Outcome(ending, code if isinstance(code, int) else None, output, tail, reason)

    @staticmethod
    async def _wait_run(
        tm: TerminalManager, run_id: str, deadline: float | None, ref: str | None = None
    ) -> dict[str, Any]:
        """The run's end; or, with ``ref``, the end of the pane's shell when the command
        ended it (``exit 4`` typed into the shell): ``{state: "shell_exited", exit_code}``."""
        ended = asyncio.ensure_future(LocalExecutor._run_end(tm, run_id, deadline))
        if ref is None:
            return await ended
        shell = asyncio.ensure_future(LocalExecutor._shell_end(tm, ref))
        try:
            done, _ = await asyncio.wait({ended, shell}, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                return ended.result()
            try:  # the run may still be recorded as it ended (the shell's last marks)
                return await tm.run_tracker.wait(run_id, timeout_s=_SHELL_GONE_GRACE_S)
            except (TimeoutError_, NotFoundError):
                return shell.result()
        finally:
            for task in (ended, shell):
                task.cancel()
            await asyncio.gather(ended, shell, return_exceptions=True)

    @staticmethod
    async def _run_end(tm: TerminalManager, run_id: str, deadline: float | None) -> dict[str, Any]:
        while True:
            left = _WAIT_STEP_S if deadline is None else deadline - time.monotonic()
            step = min(left, _WAIT_STEP_S)
            try:
                return await tm.run_tracker.wait(run_id, timeout_s=max(0.0, step))
            except TimeoutError_:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    @staticmethod
    async def _shell_end(tm: TerminalManager, ref: str) -> dict[str, Any]:
        """Until the pane's shell is gone. The terminal manager has no pane-exit event:
        one cheap look (a control-mode round trip) every ``_SHELL_POLL_S``."""
        while True:
            await asyncio.sleep(_SHELL_POLL_S)
            try:
                pane = await tm.get(ref, observed=False)
            except NotFoundError:
                return {"state": "shell_exited", "exit_code": None}
            if pane["state"] in (PaneState.EXITED.value, PaneState.CLOSED.value):
                return {"state": "shell_exited", "exit_code": pane.get("exit_code")}

    async def _output(self, tm: TerminalManager, handle: Handle) -> str:
        """What the pane shows since the task began, without the typed command line and the
        prompt after it. The prompt is waited for (bounded): its mark (bash: at the end of
        the prompt; fish: before it is drawn), then the cursor off the start of its line."""
        try:
            drawn = await self._prompt_drawn(tm, handle)
            text = await tm.capture(handle.ref, lines=_CAPTURE_LINES)
        except NotFoundError:
            return ""
        # The pane was reset before the command was typed: the capture begins with the
        # prompt and the command line as the shell echoed it (wrapped lines are joined,
        # sometimes with the first line of output: what follows the command is output).
        command = handle.command
        at = text.find(command) if command else -1
        if at >= 0:
            lead = text[:at].rsplit("\n", 1)[-1].rstrip()  # the prompt as it was drawn
            lines = text[at + len(command) :].removeprefix("\n").split("\n")
        else:
            lead, lines = "", text.split("\n")[1:]
        if drawn:
            # The prompt is the last line drawn; the capture may end with blank lines
            # below it (the cursor's line, a resized pane).
            while lines and not lines[-1].strip():
                lines.pop()
            if lines:
                lines = self._without_prompt(lines, lead)
        out = "\n".join(lines)
        if len(out) > self.max_output_bytes:
            out = out[-self.max_output_bytes :]
        return out

    async def _prompt_drawn(self, tm: TerminalManager, handle: Handle) -> bool:
        try:
            await tm.run_tracker.wait_prompt(handle.ref, timeout_s=DEFAULT_PROMPT_WAIT_S)
        except TimeoutError_:
            return False
        cursor = getattr(tm.backend, "cursor", None)
        if cursor is None:
            return handle.run_id not in self._reattached
        pane_id = tm.resolve(handle.ref).pane_id
        deadline = time.monotonic() + DEFAULT_PROMPT_WAIT_S
        while (await cursor(pane_id))[0] == 0:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    @staticmethod
    def _without_prompt(lines: list[str], prompt: str) -> list[str]:
        """Take the prompt (drawn: the last line) off the end of a capture. In bash it
        follows output that had no final newline on that line; zsh and fish put such output
        on its own line, marked with their end-of-line mark (% or # in zsh, ⏎ in fish)
        padded with spaces, which is taken off. ``prompt`` is the prompt drawn before the
        command; one showing the last exit code differs from it: the line is dropped whole."""
        last = lines[-1].rstrip()
        if prompt and last.endswith(prompt) and last != prompt:
            lines = [*lines[:-1], last[: -len(prompt)]]
        else:
            lines = lines[:-1]
        out = []
        for line in lines:
            m = _EOL_MARK.match(line)
            out.append((m.group(1) if m else line).rstrip())
        return out

    async def stream(self, handle: Handle) -> AsyncIterator[bytes]:
        tm = await self._terminals()
        sub = await tm.subscribe(handle.ref)
        try:
            async for chunk in sub:
                if isinstance(chunk, bytes):
                    yield chunk
        finally:
            sub.close()

    async def send(self, handle: Handle, text: str, *, enter: bool = True) -> None:
        tm = await self._terminals()
        await tm.send(handle.ref, text, enter=enter, origin="swarm")

    async def signal(self, handle: Handle, signum: int) -> int:
        tm = await self._terminals()
        pids = await self._processes(tm, handle)
        return _signal_all(pids, signum)

    async def status(self, handle: Handle) -> Status:
        tm = await self._terminals()
        try:
            run = await tm.run_tracker.get(handle.run_id)
        except NotFoundError as exc:
            return Status("lost", reason=exc.message)
        state = str(run.get("state"))
        if state == "running":
            return Status("running")
        if state in ("finished", "cancelled"):
            return Status("ended", run.get("exit_code"))
        return Status("lost", reason=f"its run is {state}")

    async def kill(self, handle: Handle) -> None:
        tm = await self._terminals()
        self._killed.add(handle.run_id)
        await self._kill_tree(tm, handle)

    async def reattach(self, handle: Handle) -> Status:
        tm = await self._terminals()
        await tm.refresh()
        try:
            rec = tm.resolve(handle.ref)
        except NotFoundError:
            return Status("lost", reason=f"its pane {handle.pane_id} is gone")
        status = await self.status(handle)
        if status.state != "running":
            return status
        info = await tm.backend.get_pane(rec.pane_id)
        if rec.shell and info.command == rec.shell:
            return Status(
                "lost",
                reason="it ended while the orchestrator was not running: its exit code was"
                " not observed",
            )
        self._busy[rec.orchflow_id] = handle.key
        self._reattached.add(handle.run_id)
        return status

    async def close(self) -> None:
        """Pooled panes stay in tmux for the next orchestrator (which times the idle ones
        again); closes already under way finish."""
        for ref in list(self._idle_timers):
            self._disarm(ref)
        await asyncio.gather(*self._closing, return_exceptions=True)
        self._busy.clear()

    # -- processes ---------------------------------------------------------------------
    async def _processes(self, tm: TerminalManager, handle: Handle) -> list[int]:
        """The command's processes: the descendants of the pane's shell, deepest first."""
        try:
            rec = tm.resolve(handle.ref)
            info = await tm.backend.get_pane(rec.pane_id)
        except NotFoundError:
            return []
        if info.pid is None:
            return []
        return await descendants(info.pid)

    async def _kill_tree(self, tm: TerminalManager, handle: Handle) -> int:
        pids = await self._processes(tm, handle)
        if not pids:
            return 0
        groups = await _groups(pids)
        _signal_all(pids, signals.SIGTERM, groups)
        deadline = time.monotonic() + self.kill_grace_s
        alive = pids
        while time.monotonic() < deadline:
            alive = [p for p in alive if _alive(p)]
            if not alive:
                break
            await asyncio.sleep(0.05)
        if alive:
            _signal_all(alive, signals.SIGKILL, groups)
        log.info("%s: killed %d process(es) of run %s", handle.key, len(pids), handle.run_id)
        return len(pids)


async def _ps(*columns: str) -> list[list[int]]:
    proc = await asyncio.create_subprocess_exec(
        "ps",
        "-A",
        "-o",
        ",".join(f"{c}=" for c in columns),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    rows = []
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == len(columns) and all(p.isdigit() for p in parts):
            rows.append([int(p) for p in parts])
    return rows


async def descendants(root: int) -> list[int]:
    """Every process under ``root`` (not ``root``), deepest first."""
    children: dict[int, list[int]] = {}
    for pid, ppid in await _ps("pid", "ppid"):
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out[::-1]


async def _groups(pids: list[int]) -> set[int]:
    """The process groups led by one of ``pids`` (a job's group: its children are in it)."""
    wanted = set(pids)
    return {pgid for pid, pgid in await _ps("pid", "pgid") if pid in wanted and pid == pgid}


def _signal_all(pids: list[int], signum: int, groups: set[int] | None = None) -> int:
    sent = 0
    for pgid in groups or ():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
    for pid in pids:
        try:
            os.kill(pid, signum)
            sent += 1
        except (ProcessLookupError, PermissionError):
            continue
    return sent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
