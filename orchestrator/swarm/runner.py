"""Swarms: a checked task graph (spec.py) run by an executor, persisted as it goes.

Each swarm has a driver (one asyncio task) that starts every task whose deps all
succeeded, at most ``max_parallel`` at once, skips the ones a failed dep leaves behind,
and ends the swarm once every task ended (states.py has both tables). An attempt:

1. takes the task's ``locks`` from the LockManager (owner ``swarm:<id>/<task>``; sorted by
   resource, so two tasks cannot take the same pair in opposite orders; waited for at
   most ``lock_wait_s``; a wait that would deadlock is refused and the attempt fails),
2. spawns the command with the executor (a prompt goes to an AI agent: prompts.py),
3. waits for its end with the task's ``timeout_s`` (the executor kills it and its
   children when it runs out), writes its output to ``<state>/swarms/<id>/<task>.out``,
4. releases the locks; a failed attempt is retried after ``backoff_s * 2**(n-1)`` (at
   most ``backoff_max_s``) while ``retries`` are left.

Everything is in ``orchestrator.db``: the swarm, each task's row (state, attempts, exit
code, output tail, the executor's handle of its current attempt) and each attempt. After
the orchestrator was killed, ``open()`` makes the state truthful: ended tasks stay ended;
a running task is re-attached if its executor still has it running, recorded with its
exit code if its end was observed, else ``lost`` (retried only if it has retries left);
pending tasks go on.
"""

from __future__ import annotations

import asyncio
import builtins
import codecs
import json
import logging
import secrets
import shlex
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.coordination.locks import MAX_LEASE_S, LockManager, LockMode
from orchestrator.executors.base import Ending, Executor, Handle, Outcome, Spec
from orchestrator.swarm import spec as specs
from orchestrator.swarm.repository import SwarmRepository
from orchestrator.swarm.states import (
    SwarmEvent,
    SwarmState,
    TaskEvent,
    TaskState,
    swarm_transition,
    task_transition,
)
from orchflow_core.errors import NotFoundError, OrchflowError

log = logging.getLogger(__name__)

TOPIC = "swarms"
DEFAULT_BACKOFF_S = 1.0
DEFAULT_BACKOFF_MAX_S = 30.0
DEFAULT_LOCK_WAIT_S = 3600.0
DEFAULT_CANCEL_WAIT_S = 10.0
MAX_LIST = 1000
MAX_LIVE_SWARMS = 100

Publisher = Callable[[str, str, dict[str, Any]], int]
Started = Callable[[dict[str, Any]], Awaitable[None]]  # a prompt task's agent and session


class PromptRunner:
    """Where prompt tasks go (prompts.py); ``None`` in the manager makes them fail with
    the reason."""

    async def run(
        self,
        key: str,
        agent: str,
        prompt: str,
        cwd: str,
        timeout_s: float | None,
        *,
        started: Started | None = None,
    ) -> Outcome:
        """Run the prompt; ``started`` is told which agent (``{id, name, pid,
        session_id, turn_id, tasks}``) took it, once its turn is queued."""
        raise NotImplementedError

    async def cancel(self, key: str) -> None:
        raise NotImplementedError

    async def warm(self, agent: str, cwd: str, n: int) -> int:
        """Start up to ``n`` agents for (agent, cwd) ahead of need; how many started."""
        return 0

    async def close(self) -> None:
        """Stop what it started (the orchestrator's shutdown)."""


@dataclass(slots=True)
class Task:
    spec: specs.TaskSpec
    position: int
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    host: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    handle: Handle | None = None
    started_at: float | None = None
    finished_at: float | None = None
    output_tail: str | None = None
    output_path: str | None = None
    retry_at: float = 0.0  # monotonic: a task in backoff starts again after it
    spawning: bool = False  # its command is being started: a cancel kills it once started

    def view(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": s.id,
            "state": self.state.value,
            "host": self.host,
            "exit_code": self.exit_code,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "output_tail": self.output_tail,
            "reason": self.reason,
            "command": s.command,
            "prompt": s.prompt,
            "agent": s.agent,
            "deps": s.deps,
            "retries": s.retries,
            "timeout_s": s.timeout_s,
            "pane_id": self.handle.pane_id if self.handle else None,
            "output_path": self.output_path,
            "agent_run": self._agent_run(),
        }

    def _agent_run(self) -> dict[str, Any] | None:
        """A prompt task: which pooled agent ran its current attempt, in which session."""
        h = self.handle
        return h.agent if h is not None and h.executor == "agent" else None

    def row(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "attempts": self.attempts,
            "host": self.host,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "handle": json.dumps(self.handle.to_dict()) if self.handle else None,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "output_tail": self.output_tail,
            "output_path": self.output_path,
        }


@dataclass(slots=True)
class Swarm:
    id: str
    name: str
    strategy: str
    max_parallel: int
    created_at: float
    out_dir: Path
    tasks: dict[str, Task]
    state: SwarmState = SwarmState.RUNNING
    reason: str | None = None
    finished_at: float | None = None
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    cancelling: bool = False
    driver: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self) -> dict[str, Any]:
        return {
            "swarm_id": self.id,
            "name": self.name,
            "strategy": self.strategy,
            "max_parallel": self.max_parallel,
            "state": self.state.value,
            "reason": self.reason,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "tasks": [t.view() for t in self.tasks.values()],
        }


class SwarmManager:
    def __init__(
        self,
        repo: SwarmRepository,
        executor: Executor,
        locks: LockManager,
        *,
        out_dir: Path,
        publish: Publisher,
        prompts: PromptRunner | None = None,
        backoff_s: float = DEFAULT_BACKOFF_S,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
        lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
        warm: bool = True,
    ) -> None:
        """``warm=False`` skips making pool panes ahead (the benchmark's floor)."""
        self.repo = repo
        self.executor = executor
        self.locks = locks
        self.out_dir = out_dir
        self._publish = publish
        self.prompts = prompts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.lock_wait_s = lock_wait_s
        self.warm = warm
        self._live: dict[str, Swarm] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- start and stop ----------------------------------------------------------------
    async def open(self) -> None:
        """Load the swarms a previous process left running and make their state
        truthful (module docstring); their drivers go on."""
        adopt = getattr(self.executor, "adopt_idle", None)
        if adopt is not None and self.warm:  # idle pool panes an earlier process left
            self._spawn(self._adopt_idle(adopt))
        for row in await self.repo.running_swarms():
            swarm = await self._load(row)
            self._live[swarm.id] = swarm
            for task in swarm.tasks.values():
                owner = f"swarm:{swarm.id}/{task.spec.id}"  # its locks, restored from the db,
                if task.state is TaskState.RUNNING:  # stay its own until it ends
                    self.locks.claim(owner)
                    self._spawn(self._recover(swarm, task))
                else:  # taken before its attempt started: it takes them again when it does
                    self.locks.release_owner(owner, why="its task had not started")
            self._start(swarm)

    @staticmethod
    async def _adopt_idle(adopt: Callable[[], Coroutine[Any, Any, int]]) -> None:
        try:
            n = await adopt()
        except OrchflowError as exc:  # no tmux yet: the first swarm's panes are timed
            log.info("idle pool panes not timed: %s", exc.message)
            return
        if n:
            log.info("%d idle pool pane(s) of an earlier orchestrator will close when idle", n)

    async def _load(self, row: Any) -> Swarm:
        tasks: dict[str, Task] = {}
        for r in await self.repo.tasks(row["id"]):
            handle = Handle.from_dict(json.loads(r["handle"])) if r["handle"] else None
            tasks[r["id"]] = Task(
                spec=specs.TaskSpec.from_dict(json.loads(r["spec"])),
                position=r["position"],
                state=TaskState(r["state"]),
                attempts=r["attempts"],
                host=r["host"],
                exit_code=r["exit_code"],
                reason=r["reason"],
                handle=handle,
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                output_tail=r["output_tail"],
                output_path=r["output_path"],
            )
        return Swarm(
            id=row["id"],
            name=row["name"],
            strategy=row["strategy"],
            max_parallel=row["max_parallel"],
            created_at=row["created_at"],
            out_dir=self.out_dir / row["id"],
            tasks=tasks,
            state=SwarmState(row["state"]),
            reason=row["reason"],
            finished_at=row["finished_at"],
        )

    async def _recover(self, swarm: Swarm, task: Task) -> None:
        """A task that ran when the previous process stopped."""
        runner = asyncio.current_task()
        assert runner is not None
        swarm.running[task.spec.id] = runner
        try:
            handle = task.handle
            if handle is None or handle.executor != self.executor.name:
                why = (
                    "the orchestrator stopped before its attempt started"
                    if handle is None
                    else f"it ran on {handle.executor!r}, which ends with the orchestrator"
                    " (an AI agent is its child process)"
                )
                await self._end_attempt(swarm, task, Outcome(Ending.LOST, None, reason=why))
                return
            try:
                status = await self.executor.reattach(handle)
            except OrchflowError as exc:
                await self._end_attempt(swarm, task, Outcome(Ending.LOST, None, reason=exc.message))
                return
            if status.state == "running":
                log.info(
                    "swarm %s: task %s re-attached (run %s)", swarm.id, task.spec.id, handle.run_id
                )
                left = None
                if task.spec.timeout_s is not None and task.started_at is not None:
                    left = max(0.0, task.spec.timeout_s - (time.time() - task.started_at))
                outcome = await self.executor.wait(handle, timeout_s=left)
            elif status.state == "ended":
                outcome = Outcome(
                    Ending.EXITED,
                    status.exit_code,
                    reason="it ended while the orchestrator restarted",
                )
            else:
                outcome = Outcome(
                    Ending.LOST,
                    None,
                    reason=f"the orchestrator restarted while it ran: {status.reason}",
                )
            await self._end_attempt(swarm, task, outcome)
        finally:
            if not _shutting_down(swarm):  # it ended: the locks it held before the restart go
                self.locks.release_owner(
                    f"swarm:{swarm.id}/{task.spec.id}", why="its re-attached attempt ended"
                )
            swarm.running.pop(task.spec.id, None)
            swarm.wake.set()

    async def close(self) -> None:
        """Stop following (the tasks' commands keep running in tmux; a restarted
        orchestrator re-attaches them)."""
        tasks = [*self._tasks, *(s.driver for s in self._live.values() if s.driver)]
        for swarm in self._live.values():
            tasks.extend(swarm.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.prompts is not None:  # its pooled agents are this process's children
            await self.prompts.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- API -----------------------------------------------------------------------------
    async def submit(
        self,
        params: dict[str, Any],
        *,
        resolve_cwd: specs.CwdCheck | None = None,
        agents: Callable[[], builtins.list[str]] | None = None,
    ) -> dict[str, Any]:
        """Check the whole swarm (nothing starts if anything is wrong), store it, start it.
        ``agents`` lists the registry's names a prompt task may use."""
        checked = specs.parse(params, resolve_cwd=resolve_cwd)
        names = agents() if agents is not None else None
        for t in checked.tasks:
            if t.agent is not None and names is not None and t.agent not in names:
                from orchflow_core.errors import InvalidArgumentError

                raise InvalidArgumentError(
                    f"task {t.id!r}: unknown agent {t.agent!r}; the registry has:"
                    f" {', '.join(names) or 'none'} (add one with [agents.<name>] in config.toml)",
                    param="tasks",
                )
        live = sum(1 for s in self._live.values() if not s.state.final)
        if live >= MAX_LIVE_SWARMS:
            from orchflow_core.errors import ConflictError

            raise ConflictError(
                f"{live} swarms are running (the most at once); wait for one or cancel one"
            )
        await self._check_executor(checked.tasks)
        swarm_id = f"sw-{secrets.token_hex(5)}"
        swarm = Swarm(
            id=swarm_id,
            name=checked.name or swarm_id,
            strategy=checked.strategy,
            max_parallel=checked.max_parallel,
            created_at=time.time(),
            out_dir=self.out_dir / swarm_id,
            tasks={t.id: Task(spec=t, position=i) for i, t in enumerate(checked.tasks)},
        )
        await self.repo.insert(
            {
                "id": swarm.id,
                "name": swarm.name,
                "strategy": swarm.strategy,
                "max_parallel": swarm.max_parallel,
                "state": swarm.state.value,
                "created_at": swarm.created_at,
            },
            [
                (t.spec.id, t.position, t.spec.to_dict(), t.state.value)
                for t in swarm.tasks.values()
            ],
        )
        self._live[swarm.id] = swarm
        self._start(swarm)
        log.info(
            "swarm %s (%s): %d tasks, %s", swarm.id, swarm.name, len(swarm.tasks), swarm.strategy
        )
        return {"swarm_id": swarm.id, "name": swarm.name, "tasks": len(swarm.tasks)}

    async def _check_executor(self, tasks: builtins.list[specs.TaskSpec]) -> None:
        """A task's ``host`` needs the Ray executor; with Ray, it must be reachable (the
        first call connects, bounded by its connect timeout)."""
        from orchflow_core.errors import UnavailableError

        for t in tasks:
            if t.host not in (None, "local") and self.executor.name == "local":
                raise UnavailableError(
                    f"task {t.id!r}: host {t.host!r} needs the Ray executor ([executor]"
                    ' kind = "ray" and address in config.toml; doc/ray.md); the local'
                    " executor runs on this machine: omit host",
                    feature="executors",
                )
        connect = getattr(self.executor, "connect", None)
        if connect is not None and any(t.command is not None for t in tasks):
            try:
                await connect()
            except UnavailableError as exc:
                raise UnavailableError(
                    f"the Ray executor cannot run command tasks: {exc.message}",
                    feature="executors",
                ) from None

    async def status(self, swarm_id: str) -> dict[str, Any]:
        swarm = self._live.get(swarm_id)
        if swarm is None:
            row = await self.repo.swarm(swarm_id)
            if row is None:
                raise NotFoundError(f"no swarm {swarm_id!r} (see swarm.list)", id=swarm_id)
            swarm = await self._load(row)
        return swarm.view()

    async def wait(self, swarm_id: str) -> dict[str, Any]:
        """The status once the swarm ended (at once for one that has)."""
        swarm = self._live.get(swarm_id)
        if swarm is not None:
            await swarm.done.wait()
        return await self.status(swarm_id)

    async def list(self, *, limit: int = 50) -> builtins.list[dict[str, Any]]:
        return await self.repo.list(limit)

    async def cancel(
        self, swarm_id: str, *, wait_s: float = DEFAULT_CANCEL_WAIT_S
    ) -> dict[str, Any]:
        """Stop everything the swarm started: pending tasks are cancelled, running ones
        killed (with their children); returns the status once they ended (bounded)."""
        swarm = self._live.get(swarm_id)
        if swarm is None or swarm.state.final:
            return await self.status(swarm_id)
        swarm.cancelling = True
        for task in swarm.tasks.values():
            if (
                task.state in (TaskState.PENDING, TaskState.BACKOFF)
                and task.spec.id not in swarm.running
            ):
                await self._move(swarm, task, TaskEvent.CANCEL, reason="swarm.cancel")
        for tid, runner in list(swarm.running.items()):
            task = swarm.tasks[tid]
            if task.spawning:
                continue  # killed by _run_once as soon as it started
            if task.handle is not None and task.state is TaskState.RUNNING:
                try:
                    if task.handle.executor == self.executor.name:
                        await self.executor.kill(task.handle)
                    elif self.prompts is not None:
                        await self.prompts.cancel(task.handle.key)
                except OrchflowError as exc:
                    log.warning("swarm %s: killing %s: %s", swarm.id, tid, exc.message)
            else:
                runner.cancel()  # waiting for a lock or still spawning
        swarm.wake.set()
        try:
            async with asyncio.timeout(wait_s):
                await swarm.done.wait()
        except TimeoutError:
            log.warning("swarm %s: not all tasks ended within %g s of cancel", swarm.id, wait_s)
        return swarm.view()

    # -- the driver --------------------------------------------------------------------
    def _start(self, swarm: Swarm) -> None:
        swarm.driver = asyncio.get_running_loop().create_task(self._drive(swarm))

    async def _drive(self, swarm: Swarm) -> None:
        try:
            if self.warm:
                await self._warm(swarm)
            while True:
                swarm.wake.clear()
                await self._skip_orphans(swarm)
                now = time.monotonic()
                ready = [
                    t
                    for t in swarm.tasks.values()
                    if t.state in (TaskState.PENDING, TaskState.BACKOFF)
                    and t.spec.id not in swarm.running
                    and t.retry_at <= now
                    and all(swarm.tasks[d].state is TaskState.SUCCEEDED for d in t.spec.deps)
                ]
                if not swarm.cancelling:
                    for t in ready[: max(0, swarm.max_parallel - len(swarm.running))]:
                        swarm.running[t.spec.id] = self._spawn(self._attempt(swarm, t))
                live = [t for t in swarm.tasks.values() if not t.state.final]
                if not live and not swarm.running:
                    await self._finish(swarm)
                    return
                waits = [
                    t.retry_at - now
                    for t in live
                    if t.state is TaskState.BACKOFF and t.retry_at > now
                ]
                try:
                    async with asyncio.timeout(min(waits) if waits else None):
                        await swarm.wake.wait()
                except TimeoutError:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("swarm %s: driver failed", swarm.id)
            swarm.reason = "internal error in the swarm driver (see the orchestrator log)"
            await self._finish(swarm)

    async def _warm(self, swarm: Swarm) -> None:
        await asyncio.gather(self._warm_panes(swarm), self._warm_agents(swarm))

    async def _warm_agents(self, swarm: Swarm) -> None:
        """Start up to min(max_parallel, its prompt tasks) pooled agents per (agent,
        cwd) before the first task needs one."""
        if self.prompts is None:
            return
        by_key: dict[tuple[str, str], int] = {}
        for t in swarm.tasks.values():
            if t.spec.prompt is not None and t.spec.agent is not None and not t.state.final:
                k = (t.spec.agent, t.spec.cwd or "")
                by_key[k] = by_key.get(k, 0) + 1
        await asyncio.gather(
            *(
                self.prompts.warm(agent, cwd, min(n, swarm.max_parallel))
                for (agent, cwd), n in by_key.items()
            )
        )

    async def _warm_panes(self, swarm: Swarm) -> None:
        warm = getattr(self.executor, "warm", None)
        if warm is None:
            return
        first = [
            t
            for t in swarm.tasks.values()
            if t.state is TaskState.PENDING and not t.spec.deps and t.spec.command is not None
        ]
        by_cwd: dict[str, int] = {}
        for t in first:
            by_cwd[t.spec.cwd or ""] = by_cwd.get(t.spec.cwd or "", 0) + 1
        try:
            await asyncio.gather(
                *(warm(cwd, min(n, swarm.max_parallel)) for cwd, n in by_cwd.items() if cwd)
            )
        except OrchflowError as exc:  # each task will say why it cannot start
            log.warning("swarm %s: warming panes failed: %s", swarm.id, exc.message)

    async def _skip_orphans(self, swarm: Swarm) -> None:
        changed = True
        while changed:
            changed = False
            for t in swarm.tasks.values():
                if t.state is not TaskState.PENDING:
                    continue
                bad = [
                    d
                    for d in t.spec.deps
                    if swarm.tasks[d].state.final
                    and swarm.tasks[d].state is not TaskState.SUCCEEDED
                ]
                if bad:
                    dep = swarm.tasks[bad[0]]
                    await self._move(
                        swarm, t, TaskEvent.SKIP, reason=f"dependency {bad[0]!r} {dep.state.value}"
                    )
                    changed = True

    async def _finish(self, swarm: Swarm) -> None:
        states = [t.state for t in swarm.tasks.values()]
        if swarm.cancelling:
            event = SwarmEvent.CANCEL
        elif all(s is TaskState.SUCCEEDED for s in states):
            event = SwarmEvent.SUCCEED
        else:
            event = SwarmEvent.FAIL
            bad = [t.spec.id for t in swarm.tasks.values() if t.state is not TaskState.SUCCEEDED]
            swarm.reason = (
                swarm.reason or f"{len(bad)} task(s) did not succeed: {', '.join(bad[:10])}"
            )
        if not swarm.state.final:
            swarm.state = swarm_transition(swarm.state, event)
        swarm.finished_at = time.time()
        await self.repo.update_swarm(swarm.id, swarm.state.value, swarm.reason, swarm.finished_at)
        self._publish(
            TOPIC,
            "swarm.progress",
            {
                "swarm_id": swarm.id,
                "state": swarm.state.value,
                "reason": swarm.reason,
                "task": None,
            },
        )
        swarm.done.set()
        self._live.pop(swarm.id, None)
        log.info("swarm %s %s", swarm.id, swarm.state.value)

    # -- one attempt ---------------------------------------------------------------------
    async def _attempt(self, swarm: Swarm, task: Task) -> None:
        owner = f"swarm:{swarm.id}/{task.spec.id}"
        held: list[str] = []
        try:
            for resource, mode in sorted(task.spec.locks):
                lease = MAX_LEASE_S if task.spec.timeout_s is None else task.spec.timeout_s + 60
                lock = await self.locks.acquire(
                    owner,
                    f"swarm {swarm.id} task {task.spec.id}",
                    resource,
                    LockMode(mode),
                    lease_s=min(lease, MAX_LEASE_S),
                    wait_s=self.lock_wait_s,
                )
                held.append(lock["lock_id"])
            await self._run_once(swarm, task)
        except asyncio.CancelledError:
            # swarm.cancel: a task waiting for its locks is cancelled. The orchestrator
            # stopping: it stays pending, and a restarted one starts it.
            if swarm.cancelling and task.state in (TaskState.PENDING, TaskState.BACKOFF):
                await asyncio.shield(
                    self._move(swarm, task, TaskEvent.CANCEL, reason="swarm.cancel")
                )
            raise
        except OrchflowError as exc:  # a lock refused (deadlock) or not granted in time
            await self._failed(swarm, task, exc.message)
        except Exception as exc:  # a bug: logged with its traceback; the task says so
            log.exception("swarm %s: task %s failed", swarm.id, task.spec.id)
            await self._failed(swarm, task, f"internal error: {type(exc).__name__}")
        finally:
            for lock_id in [] if _shutting_down(swarm) else held:  # else a restart keeps them
                try:
                    self.locks.release(owner, lock_id)
                except OrchflowError as exc:  # it expired meanwhile
                    log.info("swarm %s: lock %s: %s", swarm.id, lock_id, exc.message)
            swarm.running.pop(task.spec.id, None)
            swarm.wake.set()

    async def _failed(self, swarm: Swarm, task: Task, why: str) -> None:
        """An attempt that could not run (its locks, or an error before its end)."""
        if task.state.final:
            return
        if task.state is not TaskState.RUNNING:
            task.attempts += 1
            await self._move(swarm, task, TaskEvent.START)
        await self._end_attempt(swarm, task, Outcome(Ending.LOST, None, reason=why), error=True)

    async def _run_once(self, swarm: Swarm, task: Task) -> None:
        s = task.spec
        key = f"{swarm.id}/{s.id}"
        cwd = s.cwd or ""
        if swarm.cancelling:  # cancelled while it waited for its locks
            await self._move(swarm, task, TaskEvent.CANCEL, reason="swarm.cancel")
            return
        task.attempts += 1
        task.output_path = str(swarm.out_dir / f"{s.id}.out")
        if s.prompt is not None:
            await self._run_prompt(swarm, task, key, cwd)
            return
        assert s.command is not None
        command = self._substitute(swarm, task, s.command, quote=True)
        task.spawning = True
        try:
            handle = await self.executor.spawn(Spec(key=key, command=command, cwd=cwd, host=s.host))
        except OrchflowError as exc:
            task.spawning = False
            await self._move(swarm, task, TaskEvent.START)
            await self._end_attempt(
                swarm, task, Outcome(Ending.LOST, None, reason=exc.message), error=True
            )
            return
        task.handle, task.host = handle, handle.host
        task.started_at = handle.started_at
        await self.repo.start_attempt(
            swarm.id, s.id, task.attempts, json.dumps(handle.to_dict()), handle.started_at
        )
        await self._move(swarm, task, TaskEvent.START)
        task.spawning = False
        # No pane to watch (Ray): its output goes out as swarm.progress {output}. Subscribed
        # before wait() reads anything.
        forward = (
            self._spawn(self._forward(swarm, task, handle, self.executor.stream(handle)))
            if handle.pane_id is None
            else None
        )
        if swarm.cancelling:  # cancelled while it was being started
            await self.executor.kill(handle)
        try:
            outcome = await self.executor.wait(handle, timeout_s=s.timeout_s)
        finally:
            if forward is not None:
                await asyncio.wait({forward}, timeout=1.0)
                forward.cancel()
        task.host = handle.host  # its node was lost: it ran again elsewhere
        await self._end_attempt(swarm, task, outcome)

    async def _forward(
        self, swarm: Swarm, task: Task, handle: Handle, chunks: AsyncIterator[bytes]
    ) -> None:
        """Each chunk of a pane-less task's output as ``swarm.progress`` with ``output``
        (UTF-8 through one incremental decoder, so a character split across chunks arrives
        whole)."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        async for chunk in chunks:
            text = decoder.decode(chunk)
            task.host = handle.host
            if text:
                self._publish(
                    TOPIC,
                    "swarm.progress",
                    {
                        "swarm_id": swarm.id,
                        "state": swarm.state.value,
                        "task": task.view(),
                        "output": text,
                    },
                )

    async def _run_prompt(self, swarm: Swarm, task: Task, key: str, cwd: str) -> None:
        s = task.spec
        assert s.prompt is not None and s.agent is not None
        task.started_at, task.host = time.time(), "local"
        task.handle = Handle(executor="agent", key=key, ref=s.agent, run_id="", host="local")
        await self.repo.start_attempt(swarm.id, s.id, task.attempts, None, task.started_at)
        await self._move(swarm, task, TaskEvent.START)
        if self.prompts is None:
            outcome = Outcome(Ending.LOST, None, reason="unavailable: AI agents are not set up")
        else:
            prompt = self._substitute(swarm, task, s.prompt, quote=False)

            async def started(info: dict[str, Any]) -> None:
                task.handle = Handle(
                    executor="agent",
                    key=key,
                    ref=str(info["name"]),
                    run_id=str(info["session_id"]),
                    host="local",
                    started_at=task.started_at or time.time(),
                    agent=info,
                )
                await self.repo.update_task(swarm.id, s.id, task.row())
                self._publish(
                    TOPIC,
                    "swarm.progress",
                    {"swarm_id": swarm.id, "state": swarm.state.value, "task": task.view()},
                )

            try:
                outcome = await self.prompts.run(
                    key, s.agent, prompt, cwd, s.timeout_s, started=started
                )
            except OrchflowError as exc:
                why = exc.message
                if not why.startswith("unavailable: "):
                    why = f"unavailable: {why}"
                outcome = Outcome(Ending.LOST, None, reason=why)
        await self._end_attempt(swarm, task, outcome, error=outcome.ending is Ending.LOST)

    def _substitute(self, swarm: Swarm, task: Task, text: str, *, quote: bool) -> str:
        """``{inputs}``: the output files of the task's inputs; ``{input}``: the first (a map
        input was put in by spec.py)."""
        files = [str(swarm.out_dir / f"{d}.out") for d in task.spec.inputs_from]
        q = shlex.quote if quote else str
        text = text.replace("{inputs}", " ".join(q(f) for f in files))
        if files:
            text = text.replace("{input}", q(files[0]))
        return text

    async def _end_attempt(
        self, swarm: Swarm, task: Task, outcome: Outcome, *, error: bool = False
    ) -> None:
        now = time.time()
        task.exit_code = outcome.exit_code
        task.output_tail = outcome.tail or task.output_tail
        if outcome.output and task.output_path:
            await asyncio.to_thread(_write, Path(task.output_path), outcome.output)
        ending = "error" if error else outcome.ending.value
        reason = outcome.reason
        if outcome.ending is Ending.EXITED and outcome.exit_code not in (0, None):
            reason = f"exit code {outcome.exit_code}"
        await self.repo.end_attempt(
            swarm.id,
            task.spec.id,
            task.attempts,
            ending=ending,
            exit_code=outcome.exit_code,
            reason=reason,
            output_tail=outcome.tail,
            finished_at=now,
        )
        if outcome.ok:
            await self._move(swarm, task, TaskEvent.SUCCEED, reason=None, finished=now)
        elif swarm.cancelling or outcome.ending is Ending.KILLED:
            await self._move(
                swarm, task, TaskEvent.CANCEL, reason=reason or "swarm.cancel", finished=now
            )
        elif task.attempts <= task.spec.retries:
            delay = min(self.backoff_max_s, self.backoff_s * 2 ** (task.attempts - 1))
            task.retry_at = time.monotonic() + delay
            why = f"attempt {task.attempts} failed ({reason}); retrying in {delay:g} s"
            await self._move(swarm, task, TaskEvent.RETRY, reason=why)
        elif outcome.ending is Ending.LOST and not error:
            await self._move(swarm, task, TaskEvent.LOSE, reason=reason, finished=now)
        else:
            await self._move(swarm, task, TaskEvent.FAIL, reason=reason, finished=now)

    async def _move(
        self,
        swarm: Swarm,
        task: Task,
        event: TaskEvent,
        *,
        reason: str | None = None,
        finished: float | None = None,
    ) -> None:
        task.state = task_transition(task.state, event)
        if event is not TaskEvent.START:
            task.reason = reason
        if task.state.final:
            task.finished_at = finished or time.time()
        await self.repo.update_task(swarm.id, task.spec.id, task.row())
        self._publish(
            TOPIC,
            "swarm.progress",
            {"swarm_id": swarm.id, "state": swarm.state.value, "task": task.view()},
        )

    def counts(self) -> int:
        """Swarms running now."""
        return len(self._live)


def _shutting_down(swarm: Swarm) -> bool:
    """The current attempt is cancelled by the orchestrator stopping (not swarm.cancel):
    its command keeps running and a restarted orchestrator re-attaches it with its locks
    (orchestrator/coordination/lock_restore.py)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0 and not swarm.cancelling


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(text if text.endswith("\n") else text + "\n")
