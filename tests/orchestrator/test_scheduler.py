"""The scheduler in-process with an injected clock (real SQLite, a real TerminalManager on a
private tmux, real shells), and cron/time-zone checks including DST in Europe/Berlin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orchestrator.coordination import cron
from orchestrator.coordination.scheduler import Job, PaneJobRunner, Scheduler
from orchestrator.schema import open_state_db
from orchflow_core.core import Core
from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.store.database import Database
from tests.harness.tmux import TmuxServer

BERLIN = ZoneInfo("Europe/Berlin")
DONE = ("finished", "cancelled", "lost", "skipped", "error")


class Clock:
    """Wall time that only moves when a test moves it."""

    def __init__(self) -> None:
        self.now = float(int(time.time() // 60 * 60) + 5)  # 5 s past a minute

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    c = Core({}, project_root=isolated)
    yield c
    await c.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    d = await open_state_db(tmp_path)
    yield d
    await d.close()


async def make(db: Database, core: Core, clock: Clock) -> Scheduler:
    s = Scheduler(db, PaneJobRunner(core.terminals), clock=clock, default_tz="UTC")
    await s.open()
    return s


async def settled(s: Scheduler, name: str, count: int, *, within: float = 20.0) -> list[Any]:
    """The newest ``count`` firings of ``name`` once none of them is queued or running."""
    async with asyncio.timeout(within):
        while True:
            firings = await s.history(name)
            if len(firings) >= count and all(f["state"] in DONE for f in firings[:count]):
                return firings
            await asyncio.sleep(0.05)


async def test_a_due_schedule_fires_its_command_as_a_run_in_its_pane(
    db: Database, core: Core, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    clock = Clock()
    s = await make(db, core, clock)
    try:
        added = await s.add("answer", "* * * * *", Job("echo sched-$((6*7))", str(tmp_path)))
        assert len(added["next_runs"]) == 3 and added["tz"] == "UTC"
        assert added["next_run_at"] == clock.now - 5 + 60
        assert await s.tick() == []  # nothing due yet
        clock.now += 60
        fired = await s.tick()
        assert [f.state.value for f in fired] == ["queued"]
        [firing] = await settled(s, "answer", 1)
        assert firing["state"] == "finished" and firing["exit_code"] == 0
        assert firing["due_at"] == clock.now - 5 and firing["run_id"].startswith("r-")
        tm = await core.terminals()
        run = await tm.run_tracker.get(firing["run_id"])
        assert run["command"] == "echo sched-$((6*7))" and run["exit_code"] == 0
        assert run["pane_name"] == "sched-answer"
        assert "sched-42" in await tm.capture("sched-answer", lines=20)
        # the next firing reuses the pane
        clock.now += 60
        await s.tick()
        second = (await settled(s, "answer", 2))[0]
        assert second["pane_id"] == firing["pane_id"]
        assert (
            private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_name}").count("sched-answer")
            == 1
        )
        assert (await s.list())[0]["last"]["id"] == second["id"]
    finally:
        await s.close()


async def test_overlap_skip_queue_and_allow(db: Database, core: Core, tmp_path: Path) -> None:
    clock = Clock()
    s = await make(db, core, clock)
    gate = tmp_path / "go"
    wait_gate = f"while [ ! -e {gate} ]; do sleep 0.05; done; echo passed"
    try:
        for policy in ("skip", "queue", "allow"):
            await s.add(f"o-{policy}", "* * * * *", Job(wait_gate, str(tmp_path)), overlap=policy)
        clock.now += 60
        await s.tick()
        async with asyncio.timeout(20):  # the three first firings have started
            while sum(v["running"] for v in await s.list()) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        clock.now += 60
        await s.tick()
        skip = await s.history("o-skip")
        assert skip[0]["state"] == "skipped"
        assert "is still running (overlap=skip)" in skip[0]["reason"]
        assert (await s.history("o-queue"))[0]["state"] == "queued"
        allow = await s.history("o-allow")
        async with asyncio.timeout(20):
            while [f["state"] for f in allow] != ["running", "running"]:
                await asyncio.sleep(0.05)
                allow = await s.history("o-allow")
        assert allow[0]["pane_id"] != allow[1]["pane_id"]  # a second pane
        with pytest.raises(ConflictError, match="its overlap is 'skip'"):
            await s.run_now("o-skip")
        gate.touch()
        queued = await settled(s, "o-queue", 2)
        assert [f["state"] for f in queued] == ["finished", "finished"]
        assert queued[0]["fired_at"] >= queued[1]["fired_at"]
        assert [f["exit_code"] for f in await settled(s, "o-allow", 2)] == [0, 0]
    finally:
        await s.close()


async def test_missed_runs_after_a_restart_skip_or_run_once(
    db: Database, core: Core, tmp_path: Path
) -> None:
    clock = Clock()
    clock.now = clock.now // 600 * 600 + 5  # 5 s past a ten-minute mark
    first = await make(db, core, clock)
    every10 = "*/10 * * * *"
    await first.add("skipper", every10, Job("echo skipped-job", str(tmp_path)))
    await first.add("catcher", every10, Job("echo caught-up", str(tmp_path)), on_missed="run_once")
    await first.add("minutely", "* * * * *", Job("echo on-time", str(tmp_path)))
    await first.close()
    clock.now += 35 * 60  # the orchestrator was down for 35 minutes
    second = await make(db, core, clock)
    try:
        assert {v["name"] for v in await second.list()} == {"skipper", "catcher", "minutely"}
        await second.tick()
        # three ten-minute marks passed, the latest 5 minutes ago: all missed
        [skipped] = await settled(second, "skipper", 1)
        assert skipped["state"] == "skipped" and skipped["run_id"] is None
        assert "missed 3 run(s)" in skipped["reason"] and "on_missed=skip" in skipped["reason"]
        [caught] = await settled(second, "catcher", 1)
        assert caught["state"] == "finished" and caught["exit_code"] == 0
        assert caught["reason"] == "missed 3 run(s); on_missed=run_once runs it once now"
        # a minutely schedule's latest due time is seconds old: it runs on time, and the
        # 34 before it are recorded as missed, covered by that run
        on_time, missed = await settled(second, "minutely", 2)
        assert on_time["state"] == "finished" and on_time["due_at"] == clock.now - 5
        assert missed["state"] == "skipped" and "missed 34 run(s)" in missed["reason"]
        await second.tick()  # handled: nothing more
        assert len(await second.history("catcher")) == 1
    finally:
        await second.close()


async def test_bad_schedules_are_refused_by_name(db: Database, core: Core, tmp_path: Path) -> None:
    s = await make(db, core, Clock())
    job = Job("true", str(tmp_path))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cron_expr": "61 * * * *"}, r"minute field '61' is not valid \(allowed: 0-59"),
        ({"cron_expr": "@reboot"}, "'@reboot' is not supported: the orchestrator has no boot"),
        ({"cron_expr": "* * * * * *"}, "has 6 fields; expected 5"),
        ({"cron_expr": "0 0 30 2 *"}, "never fires"),
        ({"cron_expr": "* 24 * * *"}, "hour field '24'"),
        ({"cron_expr": "@often"}, "unknown cron alias '@often'"),
        ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus': give an IANA name"),
        ({"on_missed": "later"}, "on_missed must be one of skip, run_once, got 'later'"),
        ({"overlap": "kill"}, "overlap must be one of skip, queue, allow, got 'kill'"),
        ({"name": "no spaces"}, "schedule name 'no spaces' must be"),
        ({"job": Job("  ", str(tmp_path))}, "job.command must be non-empty"),
        ({"job": Job("x", str(tmp_path), "ssh")}, "job.pane_type must be one of"),
    ]
    for override, message in cases:
        args: dict[str, Any] = {"name": "n", "cron_expr": "* * * * *", "job": job, **override}
        name, expr, the_job = args.pop("name"), args.pop("cron_expr"), args.pop("job")
        with pytest.raises(InvalidArgumentError, match=message):
            await s.add(name, expr, the_job, **args)
    await s.add("n", "*/5 * * * *", job)
    with pytest.raises(ConflictError, match="a schedule named 'n' exists already"):
        await s.add("n", "* * * * *", job)
    with pytest.raises(NotFoundError, match=r"no schedule 'm' \(schedules: n\)"):
        await s.remove("m")
    assert (await s.remove("n"))["removed"] is True
    assert await s.list() == []


def test_dst_spring_forward_in_berlin_runs_at_the_first_minute_that_exists() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day
    after = datetime(2026, 3, 28, 12, tzinfo=BERLIN).timestamp()
    times = [t.isoformat() for t in cron.next_times("30 2 * * *", BERLIN, after, 3)]
    assert times == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    hourly = cron.next_times("0 * * * *", BERLIN, after + 13 * 3600, 2)  # from 01:00
    assert [t.isoformat() for t in hourly] == [
        "2026-03-29T03:00:00+02:00",  # no 02:00
        "2026-03-29T04:00:00+02:00",
    ]


def test_dst_fall_back_in_berlin_runs_a_fixed_hour_once_and_every_hour_twice() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:00-02:59 happens twice
    after = datetime(2026, 10, 24, 12, tzinfo=BERLIN).timestamp()
    daily = [t.isoformat() for t in cron.next_times("30 2 * * *", BERLIN, after, 2)]
    assert daily == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    # starting between the two 02:30s (a restart at 02:45 CEST): not again at 02:30 CET
    between = datetime(2026, 10, 25, 0, 45, tzinfo=ZoneInfo("UTC")).timestamp()
    assert [t.isoformat() for t in cron.next_times("30 2 * * *", BERLIN, between, 1)] == [
        "2026-10-26T02:30:00+01:00"
    ]
    from_one = datetime(2026, 10, 25, 1, 40, tzinfo=BERLIN).timestamp()
    every = [t.isoformat() for t in cron.next_times("0 * * * *", BERLIN, from_one, 3)]
    assert every == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


async def test_list_shows_the_next_three_runs_in_the_schedules_zone(
    db: Database, core: Core, tmp_path: Path
) -> None:
    clock = Clock()
    clock.now = datetime(2026, 3, 28, 12, tzinfo=BERLIN).timestamp()
    s = await make(db, core, clock)
    view = await s.add("nightly", "30 2 * * *", Job("true", str(tmp_path)), tz="Europe/Berlin")
    assert view["next_runs"] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


async def test_a_firing_running_across_a_restart_is_settled_honestly(
    db: Database, isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    """Two Cores on the same tmux server and database stand for two orchestrator
    processes: the second did not start the command, so it cannot see it end."""
    clock = Clock()
    gate = tmp_path / "go"
    first_core = Core({}, project_root=isolated)
    first = await make(db, first_core, clock)
    await first.add("long", "* * * * *", Job(f"while [ ! -e {gate} ]; do sleep 0.05; done", "/"))
    clock.now += 60
    await first.tick()
    async with asyncio.timeout(20):
        while (await first.history("long"))[0]["state"] != "running":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await first.close()
    await first_core.close()
    second_core = Core({}, project_root=isolated)
    second = await make(db, second_core, clock)
    try:
        [lost] = await settled(second, "long", 1)
        assert lost["state"] == "lost" and lost["run_id"] is not None
        assert "the orchestrator restarted while it ran" in lost["reason"]
        assert lost["pane_id"] in lost["reason"]
        # the pane is still there, and the schedule goes on in it
        gate.touch()
        clock.now += 60
        await second.tick()
        after = (await settled(second, "long", 2))[0]
        assert after["state"] == "finished" and after["exit_code"] == 0
    finally:
        await second.close()
        await second_core.close()


class EndedBeforeStartReturns(PaneJobRunner):
    """The real pane runner, but ``start`` returns only once its run has ended: the order a
    loaded machine produces for a quick command (the shell's start and end marks read in
    one batch before the scheduler resumes). Only the ordering is forced; the pane, the
    shell, the run and its tracking are real."""

    async def start(self, schedule: Any, firing_id: str) -> dict[str, Any]:
        run = await super().start(schedule, firing_id)
        tm = await self._terminals()
        ended = await tm.run_tracker.wait(run["id"], timeout_s=20)
        assert ended["state"] == "finished"
        return run


async def test_run_now_answers_the_firing_as_it_started_even_if_it_already_ended(
    db: Database, core: Core, tmp_path: Path
) -> None:
    s = Scheduler(db, EndedBeforeStartReturns(core.terminals), default_tz="UTC")
    await s.open()
    try:
        await s.add("quick", "0 3 * * *", Job("echo quick-$((6*7))", str(tmp_path)))
        firing = await s.run_now("quick")
        # what run_now promises (doc/orchestrator-api.md): the firing once its command
        # started, running, with its run and pane
        assert firing["state"] == "running" and firing["reason"] == "run_now"
        assert firing["run_id"] and firing["pane_id"] and firing["exit_code"] is None
        [done] = await settled(s, "quick", 1)
        assert done["id"] == firing["id"] and done["state"] == "finished"
        assert done["exit_code"] == 0
    finally:
        await s.close()
