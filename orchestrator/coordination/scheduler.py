"""The scheduler: named cron schedules whose jobs run as real commands in tmux panes.

A schedule is ``{name, cron, tz, job: {command, cwd, pane_type}, on_missed, overlap}``,
stored in ``orchestrator.db`` (``schedules``; orchestrator/schema.py). Each time it is due,
a **firing** is recorded (``schedule_firings``) and its command runs in a pane of the
schedule's own (``sched-<name>``, pane meta ``{"schedule": name}``), typed through the
TerminalManager as a run (``tm.run``), so it has a run id, an exit code and a place in
``run.list``. The pane is reused by the next firing; a firing that overlaps another
(``overlap: allow``) gets a second pane.

A firing's lifecycle, in one table (h11 style)::

    queued ──start──▶ running ──finish──▶ finished   (exit code kept; 0 or not)
      │                  ├──cancel──▶ cancelled
      │                  └──lose────▶ lost        (its pane or shell went away first)
      ├──skip──▶ skipped      (missed, or overlapping with overlap=skip, or queue full)
      └──fail──▶ error        (it could not start: tmux unavailable, the pane died ...)

**Missed runs.** ``last_due_at`` is the latest due time handled. On start (and on every
tick, which also covers a suspended machine) the due times between it and now are
counted: the latest fires if it is at most ``late_after_s`` old; the others are missed.
``on_missed: skip`` records one ``skipped`` firing saying how many were missed;
``run_once`` runs the job once for them (unless the latest is on time: that run covers
them).

**Overlap** while an earlier firing still runs: ``skip`` (recorded as skipped, naming the
running firing), ``queue`` (runs after it; at most ``max_queue`` wait), ``allow`` (runs
now, in another pane).

The clock is injected (``clock=``, Unix time): tests move it and call ``tick()``; the
orchestrator runs ``loop()``, which sleeps until the next due time (at most
``MAX_SLEEP_S``, so a changed wall clock is noticed) or until a schedule changes.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from orchestrator.coordination import cron
from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    TimeoutError_,
)
from orchflow_core.store.database import Database

log = logging.getLogger(__name__)

ON_MISSED = ("skip", "run_once")
OVERLAP = ("skip", "queue", "allow")
PANE_TYPES = ("shell", "dev", "test", "repl", "build", "lint", "custom")
DEFAULT_LATE_AFTER_S = 60.0
DEFAULT_MAX_QUEUE = 10
DEFAULT_START_TIMEOUT_S = 20.0
MAX_SLEEP_S = 30.0
MAX_SCHEDULES = 1000
SCHEDULE_META = "schedule"  # pane meta key naming the schedule a pane belongs to
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FiringState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    LOST = "lost"
    SKIPPED = "skipped"
    ERROR = "error"


class FiringEvent(StrEnum):
    START = "start"
    FINISH = "finish"
    CANCEL = "cancel"
    LOSE = "lose"
    SKIP = "skip"
    FAIL = "fail"


_TABLE: dict[tuple[FiringState, FiringEvent], FiringState] = {
    (FiringState.QUEUED, FiringEvent.START): FiringState.RUNNING,
    (FiringState.QUEUED, FiringEvent.SKIP): FiringState.SKIPPED,
    (FiringState.QUEUED, FiringEvent.FAIL): FiringState.ERROR,
    (FiringState.RUNNING, FiringEvent.FINISH): FiringState.FINISHED,
    (FiringState.RUNNING, FiringEvent.CANCEL): FiringState.CANCELLED,
    (FiringState.RUNNING, FiringEvent.LOSE): FiringState.LOST,
}
_RUN_END = {"finished": FiringEvent.FINISH, "cancelled": FiringEvent.CANCEL}


def transition(state: FiringState, event: FiringEvent) -> FiringState:
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise ConflictError(
            f"a firing that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None


@dataclass(slots=True)
class Job:
    """``kind`` command: ``command`` typed in a pane. prompt and swarm: ``swarm`` is the
    ``swarm.submit`` params run at each firing (a prompt is a swarm of one prompt task;
    ``prompt``/``agent`` keep what was asked, for the view)."""

    command: str
    cwd: str
    pane_type: str = "shell"
    kind: str = "command"
    swarm: dict[str, Any] | None = None
    prompt: str | None = None
    agent: str | None = None

    def spec(self) -> str | None:
        """The stored JSON of a prompt or swarm job (None for a command)."""
        if self.kind == "command":
            return None
        return json.dumps(
            {"kind": self.kind, "swarm": self.swarm, "prompt": self.prompt, "agent": self.agent}
        )

    def view(self) -> dict[str, Any]:
        if self.kind == "prompt":
            return {"prompt": self.prompt, "agent": self.agent, "cwd": self.cwd}
        if self.kind == "swarm":
            return {"swarm": self.swarm, "cwd": self.cwd}
        return {"command": self.command, "cwd": self.cwd, "pane_type": self.pane_type}


def _job_from_row(row: Any) -> Job:
    job = Job(row["command"], row["cwd"], row["pane_type"])
    spec = row["job_spec"]
    if spec:
        data = json.loads(spec)
        job.kind, job.swarm = data["kind"], data["swarm"]
        job.prompt, job.agent = data.get("prompt"), data.get("agent")
    return job


@dataclass(slots=True)
class Schedule:
    name: str
    cron: str
    tz: str
    job: Job
    on_missed: str
    overlap: str
    created_at: float
    last_due_at: float

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass(slots=True)
class Firing:
    id: str
    schedule: str
    due_at: float
    state: FiringState = FiringState.QUEUED
    reason: str | None = None
    fired_at: float | None = None
    run_id: str | None = None
    pane_id: str | None = None
    exit_code: int | None = None
    finished_at: float | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    error: OrchflowError | None = field(default=None, repr=False)
    # The firing's view when its command started: what run_now answers, even when a quick
    # command has ended by the time run_now's caller resumes (its end is read at once).
    as_started: dict[str, Any] | None = field(default=None, repr=False)


class JobRunner(Protocol):
    """Where a job runs: ``start`` returns the run (``{id, pane_id, ...}``) once the command
    started; ``wait`` returns it once it ended."""

    async def start(self, schedule: Schedule, firing_id: str) -> dict[str, Any]: ...

    async def wait(self, run: dict[str, Any]) -> dict[str, Any]: ...

    async def peek(self, run_id: str) -> dict[str, Any]: ...


class Scheduler:
    def __init__(
        self,
        db: Database,
        runner: JobRunner,
        *,
        clock: Callable[[], float] = time.time,
        late_after_s: float = DEFAULT_LATE_AFTER_S,
        max_queue: int = DEFAULT_MAX_QUEUE,
        default_tz: str | None = None,
    ) -> None:
        self._db = db
        self._runner = runner
        self._clock = clock
        self.late_after_s = late_after_s
        self.max_queue = max_queue
        self.default_tz = default_tz or cron.local_tz_name()
        self._schedules: dict[str, Schedule] = {}
        self._running: dict[str, dict[str, Firing]] = {}  # schedule -> firing id -> firing
        self._queued: dict[str, list[Firing]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tick_lock = asyncio.Lock()
        self.fired = 0
        self.last_fire_delay_s: float | None = None  # fired_at - due_at of the latest firing

    # -- start and stop ------------------------------------------------------------------
    async def open(self) -> None:
        """Load the schedules. Queued firings a previous process left are skipped; running
        ones are settled from their run's row (``_recover``)."""
        for row in await self._db.fetchall("SELECT * FROM schedules ORDER BY name"):
            self._schedules[row["name"]] = Schedule(
                name=row["name"],
                cron=row["cron"],
                tz=row["tz"],
                job=_job_from_row(row),
                on_missed=row["on_missed"],
                overlap=row["overlap"],
                created_at=row["created_at"],
                last_due_at=row["last_due_at"],
            )
        rows = await self._db.fetchall(
            "SELECT * FROM schedule_firings WHERE state IN ('queued', 'running')"
        )
        for row in rows:
            firing = _firing_from_row(row)
            if firing.state is FiringState.QUEUED or firing.run_id is None:
                why = "the orchestrator stopped before it started"
                if firing.state is FiringState.QUEUED:
                    await self._move(firing, FiringEvent.SKIP, reason=why)
                else:
                    await self._move(firing, FiringEvent.LOSE, reason=why)
                continue
            self._spawn(self._recover(firing))

    async def _recover(self, firing: Firing) -> None:
        """A firing that was running when the previous process stopped: its run's row says
        how it ended if someone saw it end; a run still marked running is recorded as lost,
        because a new process does not see the end of a command it did not start (the
        shell's end mark matches no run it knows), so waiting for it could last for ever."""
        assert firing.run_id is not None
        try:
            run = await self._runner.peek(firing.run_id)
        except OrchflowError as exc:
            await self._move(firing, FiringEvent.LOSE, reason=exc.message)
            return
        state = str(run.get("state"))
        if state == "running":
            where = f" in pane {firing.pane_id}" if firing.pane_id else ""
            await self._move(
                firing,
                FiringEvent.LOSE,
                reason="the orchestrator restarted while it ran: its end was not observed"
                f" (the command may still run or have finished{where})",
            )
            return
        firing.exit_code = run.get("exit_code")
        await self._move(firing, _RUN_END.get(state, FiringEvent.LOSE))

    def start(self) -> None:
        """Run ``loop()`` in the background (the orchestrator's)."""
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self.loop())

    async def close(self) -> None:
        """Stop the loop and forget the followers; commands keep running in tmux, and a
        restarted orchestrator follows their firings again."""
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None

    async def loop(self) -> None:
        while True:
            try:
                await self.tick()
            except OrchflowError as exc:  # e.g. the database is busy: try again soon
                log.warning("scheduler tick failed: %s", exc.message)
            except Exception:
                log.exception("scheduler tick failed")
            self._wake.clear()
            due = self.next_due()
            delay = MAX_SLEEP_S if due is None else min(MAX_SLEEP_S, due - self._clock())
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    def poke(self) -> None:
        """Re-read the next due time now (a schedule changed, or a test moved the clock)."""
        self._wake.set()

    def next_due(self) -> float | None:
        times = [
            t[0].timestamp()
            for s in self._schedules.values()
            if (t := cron.next_times(s.cron, s.zone, s.last_due_at, 1))
        ]
        return min(times) if times else None

    # -- the tick ------------------------------------------------------------------------
    async def tick(self) -> list[Firing]:
        """Fire what is due as of now; record what was missed. Returns the new firings."""
        async with self._tick_lock:
            now = self._clock()
            out: list[Firing] = []
            for s in list(self._schedules.values()):
                dues, more = cron.due_between(s.cron, s.zone, s.last_due_at, now)
                if not dues:
                    continue
                latest = dues[-1]
                on_time = now - latest <= self.late_after_s
                missed = dues[:-1] if on_time else dues
                if missed:
                    count = f"{len(missed)}{'+' if more else ''}"
                    if on_time:
                        why = f"missed {count} run(s) while the orchestrator was not running"
                        why += "; the next run, on time, covers them"
                    elif s.on_missed == "run_once":
                        why = f"missed {count} run(s); on_missed=run_once runs it once now"
                    else:
                        why = f"missed {count} run(s) while the orchestrator was not running"
                        why += " (on_missed=skip)"
                    if on_time or s.on_missed == "skip":
                        out.append(await self._skipped(s, missed[-1], why))
                    else:
                        out.append(await self._fire(s, missed[-1], reason=why))
                if on_time:
                    out.append(await self._fire(s, latest))
                s.last_due_at = latest
                await self._db.execute(
                    "UPDATE schedules SET last_due_at = ? WHERE name = ?", (latest, s.name)
                )
            return out

    async def _skipped(self, s: Schedule, due: float, why: str) -> Firing:
        firing = Firing(id=_firing_id(), schedule=s.name, due_at=due)
        await self._insert(firing)
        await self._move(firing, FiringEvent.SKIP, reason=why)
        return firing

    async def _fire(
        self, s: Schedule, due: float, *, reason: str | None = None, manual: bool = False
    ) -> Firing:
        running = self._running.get(s.name, {})
        if running and s.overlap != "allow":
            other = next(iter(running.values()))
            busy = f"firing {other.id} (run {other.run_id or 'starting'}) is still running"
            if manual and s.overlap == "skip":
                raise ConflictError(
                    f"schedule {s.name!r}: {busy} and its overlap is 'skip'; wait for it"
                    " or give the schedule overlap 'queue' or 'allow'",
                    schedule=s.name,
                    firing=other.id,
                )
            queue = self._queued.setdefault(s.name, [])
            if s.overlap == "skip" or len(queue) >= self.max_queue:
                why = (
                    f"{busy} (overlap=skip)"
                    if s.overlap == "skip"
                    else f"{busy} and {len(queue)} firings are queued already (the most)"
                )
                return await self._skipped(s, due, why)
            firing = Firing(id=_firing_id(), schedule=s.name, due_at=due, reason=reason)
            firing.reason = reason or f"queued behind {busy} (overlap=queue)"
            await self._insert(firing)
            queue.append(firing)
            return firing
        firing = Firing(id=_firing_id(), schedule=s.name, due_at=due, reason=reason)
        await self._insert(firing)
        self._launch(s, firing)
        return firing

    def _launch(self, s: Schedule, firing: Firing) -> None:
        self._running.setdefault(s.name, {})[firing.id] = firing  # before any await
        self._spawn(self._execute(s, firing))

    async def _execute(self, s: Schedule, firing: Firing) -> None:
        try:
            try:
                run = await self._runner.start(s, firing.id)
            except OrchflowError as exc:
                firing.error = exc
                await self._move(firing, FiringEvent.FAIL, reason=exc.message)
                return
            except Exception as exc:  # logged with its traceback; the firing says "error"
                log.exception("schedule %s: starting firing %s failed", s.name, firing.id)
                firing.error = OrchflowError(f"internal error: {type(exc).__name__}")
                await self._move(firing, FiringEvent.FAIL, reason=firing.error.message)
                return
            firing.fired_at = self._clock()
            self.fired += 1
            self.last_fire_delay_s = firing.fired_at - firing.due_at
            firing.run_id, firing.pane_id = run["id"], run.get("pane_id")
            await self._move(firing, FiringEvent.START)
            firing.as_started = self.firing_view(firing)
        finally:
            firing.started.set()
            if firing.state is not FiringState.RUNNING:
                self._done(s.name, firing)
        await self._follow(firing, run)

    async def _follow(self, firing: Firing, run: dict[str, Any]) -> None:
        """Wait for the firing's run to end, record how, start the next queued one."""
        try:
            try:
                ended = await self._runner.wait(run)
            except NotFoundError as exc:
                await self._move(firing, FiringEvent.LOSE, reason=exc.message)
                return
            except OrchflowError as exc:
                await self._move(firing, FiringEvent.LOSE, reason=exc.message)
                return
            event = _RUN_END.get(str(ended.get("state")), FiringEvent.LOSE)
            firing.exit_code = ended.get("exit_code")
            await self._move(firing, event)
        finally:
            self._done(firing.schedule, firing)

    def _done(self, name: str, firing: Firing) -> None:
        self._running.get(name, {}).pop(firing.id, None)
        queue = self._queued.get(name)
        s = self._schedules.get(name)
        if queue and s is not None and not self._running.get(name):
            self._launch(s, queue.pop(0))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- storage -------------------------------------------------------------------------
    async def _insert(self, f: Firing) -> None:
        await self._db.execute(
            "INSERT INTO schedule_firings (id, schedule, due_at, state, reason)"
            " VALUES (?, ?, ?, ?, ?)",
            (f.id, f.schedule, f.due_at, f.state.value, f.reason),
        )

    async def _move(self, f: Firing, event: FiringEvent, *, reason: str | None = None) -> None:
        f.state = transition(f.state, event)
        if reason is not None:
            f.reason = reason
        if f.state not in (FiringState.QUEUED, FiringState.RUNNING):
            f.finished_at = self._clock()
        await self._db.execute(
            "UPDATE schedule_firings SET state = ?, reason = ?, fired_at = ?, run_id = ?,"
            " pane_id = ?, exit_code = ?, finished_at = ? WHERE id = ?",
            (
                f.state.value,
                f.reason,
                f.fired_at,
                f.run_id,
                f.pane_id,
                f.exit_code,
                f.finished_at,
                f.id,
            ),
        )

    # -- API -----------------------------------------------------------------------------
    def _get(self, name: str) -> Schedule:
        s = self._schedules.get(name)
        if s is None:
            known = ", ".join(sorted(self._schedules)) or "none"
            raise NotFoundError(f"no schedule {name!r} (schedules: {known})", id=name)
        return s

    async def add(
        self,
        name: str,
        cron_expr: str,
        job: Job,
        *,
        tz: str | None = None,
        on_missed: str = "skip",
        overlap: str = "skip",
    ) -> dict[str, Any]:
        if not _NAME.match(name):
            raise InvalidArgumentError(
                f"schedule name {name!r} must be 1-64 letters, digits, '-' or '_'",
                param="name",
            )
        expr = cron.check_cron(cron_expr)
        zone_name = tz if tz is not None else self.default_tz
        cron.check_tz(zone_name)
        _one_of("on_missed", on_missed, ON_MISSED)
        _one_of("overlap", overlap, OVERLAP)
        _one_of("job.pane_type", job.pane_type, PANE_TYPES)
        if job.kind == "command" and (not job.command.strip() or "\x00" in job.command):
            raise InvalidArgumentError(
                f"job.command must be non-empty text without NUL, got {job.command!r}",
                param="job.command",
            )
        if name in self._schedules:
            raise ConflictError(
                f"a schedule named {name!r} exists already (schedule.remove it first)",
                id=name,
            )
        if len(self._schedules) >= MAX_SCHEDULES:
            raise ConflictError(f"at most {MAX_SCHEDULES} schedules", id=name)
        now = self._clock()
        s = Schedule(name, expr, zone_name, job, on_missed, overlap, now, now)
        await self._db.execute(
            "INSERT INTO schedules (name, cron, tz, command, cwd, pane_type, on_missed,"
            " overlap, created_at, last_due_at, job_spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?)",
            (
                *(name, expr, zone_name, job.command, job.cwd, job.pane_type),
                *(on_missed, overlap, now, now, job.spec()),
            ),
        )
        self._schedules[name] = s
        self.poke()
        log.info("schedule %s added: %r in %s", name, expr, zone_name)
        return await self.view(s)

    async def remove(self, name: str) -> dict[str, Any]:
        s = self._get(name)
        del self._schedules[name]
        for firing in self._queued.pop(name, []):
            await self._move(firing, FiringEvent.SKIP, reason="its schedule was removed")
        await self._db.execute("DELETE FROM schedules WHERE name = ?", (name,))
        self.poke()
        running = len(self._running.get(name, {}))
        return {"name": s.name, "removed": True, "still_running": running}

    async def run_now(self, name: str, *, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> Any:
        """Fire now (its overlap policy applies); returns the firing once its command
        started, as it was then (running, with its run and pane), or once it was queued."""
        s = self._get(name)
        firing = await self._fire(s, self._clock(), reason="run_now", manual=True)
        if firing.state is FiringState.QUEUED and firing in self._queued.get(name, []):
            return self.firing_view(firing)
        try:
            async with asyncio.timeout(timeout_s):
                await firing.started.wait()
        except TimeoutError:
            raise TimeoutError_(
                f"schedule {name!r}: its command did not start within {timeout_s:g} s",
                firing=firing.id,
            ) from None
        if firing.error is not None:
            raise firing.error
        return firing.as_started or self.firing_view(firing)

    async def list(self) -> list[dict[str, Any]]:
        return [await self.view(s) for s in sorted(self._schedules.values(), key=_by_name)]

    async def history(self, name: str, *, limit: int = 50) -> builtins.list[dict[str, Any]]:
        rows = await self._db.fetchall(
            "SELECT * FROM schedule_firings WHERE schedule = ? ORDER BY due_at DESC, rowid DESC"
            " LIMIT ?",
            (name, limit),
        )
        if not rows and name not in self._schedules:
            self._get(name)  # NotFoundError naming the known ones
        return [self.firing_view(_firing_from_row(r)) for r in rows]

    async def view(self, s: Schedule) -> dict[str, Any]:
        upcoming = cron.next_times(s.cron, s.zone, max(s.last_due_at, self._clock()), 3)
        last = await self._db.fetchone(
            "SELECT * FROM schedule_firings WHERE schedule = ? ORDER BY due_at DESC, rowid DESC"
            " LIMIT 1",
            (s.name,),
        )
        return {
            "name": s.name,
            "cron": s.cron,
            "tz": s.tz,
            "job": s.job.view(),
            "on_missed": s.on_missed,
            "overlap": s.overlap,
            "created_at": s.created_at,
            "next_runs": [when.isoformat() for when in upcoming],
            "next_run_at": upcoming[0].timestamp() if upcoming else None,
            "running": len(self._running.get(s.name, {})),
            "queued": len(self._queued.get(s.name, [])),
            "last": self.firing_view(_firing_from_row(last)) if last is not None else None,
        }

    def firing_view(self, f: Firing) -> dict[str, Any]:
        s = self._schedules.get(f.schedule)
        zone = s.zone if s is not None else ZoneInfo("UTC")
        from datetime import datetime

        return {
            "id": f.id,
            "schedule": f.schedule,
            "due_at": f.due_at,
            "due": datetime.fromtimestamp(f.due_at, zone).isoformat(),
            "state": f.state.value,
            "reason": f.reason,
            "fired_at": f.fired_at,
            "run_id": f.run_id,
            "pane_id": f.pane_id,
            "exit_code": f.exit_code,
            "finished_at": f.finished_at,
        }

    def counts(self) -> tuple[int, int]:
        """(schedules, firings running)"""
        return len(self._schedules), sum(len(r) for r in self._running.values())


def _by_name(s: Schedule) -> str:
    return s.name


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidArgumentError(
            f"{name} must be one of {', '.join(allowed)}, got {value!r}", param=name
        )


def _firing_id() -> str:
    return f"f-{secrets.token_hex(6)}"


def _firing_from_row(row: Any) -> Firing:
    return Firing(
        id=row["id"],
        schedule=row["schedule"],
        due_at=row["due_at"],
        state=FiringState(row["state"]),
        reason=row["reason"],
        fired_at=row["fired_at"],
        run_id=row["run_id"],
        pane_id=row["pane_id"],
        exit_code=row["exit_code"],
        finished_at=row["finished_at"],
    )


# -- the runner that types jobs into panes ------------------------------------------------

TerminalsGetter = Callable[[], Awaitable[Any]]
MAX_RUN_WAIT_S = 24 * 3600.0


class PaneJobRunner:
    """Runs a job in a pane of its schedule (``sched-<name>``, reused while idle; another
    one when the first is busy), through the TerminalManager: ``new_pane`` + ``run``."""

    def __init__(self, terminals: TerminalsGetter) -> None:
        self._terminals = terminals
        self._busy: set[str] = set()  # orchflow ids of panes running a firing's command
        # One pane made at a time: firings due at the same minute would otherwise race
        # to create the first session ("session 'orchflow' exists already").
        self._making = asyncio.Lock()

    async def start(self, schedule: Schedule, firing_id: str) -> dict[str, Any]:
        tm = await self._terminals()
        async with self._making:
            pane_ref = await self._pane_for(tm, schedule)
            self._busy.add(pane_ref)
        try:
            run: dict[str, Any] = await tm.run(pane_ref, schedule.job.command, origin="schedule")
        except BaseException:
            self._busy.discard(pane_ref)
            raise
        run["pane_ref"] = pane_ref
        log.info(
            "schedule %s: firing %s runs %s in pane %s",
            schedule.name,
            firing_id,
            run["id"],
            run.get("pane_id"),
        )
        return run

    async def _pane_for(self, tm: Any, schedule: Schedule) -> str:
        """An idle pane of the schedule's, or a new one (its orchflow id)."""
        from orchflow_core.terminal.state import PaneState

        await tm.refresh()
        mine = [
            r
            for r in tm.records(meta_key=SCHEDULE_META)
            if r.meta.get(SCHEDULE_META) == schedule.name
        ]
        free = [
            r
            for r in mine
            if r.state in (PaneState.IDLE, PaneState.RUNNING) and r.orchflow_id not in self._busy
        ]
        if free:
            pane_ref = free[0].orchflow_id
        else:
            taken = {r.name for r in tm.records()}
            base, n = f"sched-{schedule.name}", 1
            name = base
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            pane = await tm.new_pane(
                pane_type=schedule.job.pane_type,
                name=name,
                cwd=schedule.job.cwd,
                meta={SCHEDULE_META: schedule.name},
            )
            pane_ref = pane["id"]
        return str(pane_ref)

    async def peek(self, run_id: str) -> dict[str, Any]:
        """The run as it is now (its row in orchflow.db, whoever wrote it)."""
        tm = await self._terminals()
        run: dict[str, Any] = await tm.run_tracker.get(run_id)
        return run

    async def wait(self, run: dict[str, Any]) -> dict[str, Any]:
        tm = await self._terminals()
        pane_ref = run.get("pane_ref")
        try:
            while True:
                try:
                    ended: dict[str, Any] = await tm.run_tracker.wait(
                        run["id"], timeout_s=MAX_RUN_WAIT_S
                    )
                    return ended
                except TimeoutError_:
                    continue
        finally:
            if pane_ref is not None:
                self._busy.discard(pane_ref)
