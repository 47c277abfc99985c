"""schedule.* through a real orchestrator process and a private tmux: a real firing, its
run, bad input by name, and a restart that applies the missed-run policy."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess

DONE = ("finished", "cancelled", "lost", "skipped", "error")


async def settled(client: RpcClient, name: str, count: int = 1) -> list[Any]:
    async with asyncio.timeout(30):
        while True:
            firings = await client.call("schedule.history", {"name": name})
            if len(firings) >= count and all(f["state"] in DONE for f in firings[:count]):
                return list(firings)
            await asyncio.sleep(0.1)


async def test_add_list_run_now_and_history(
    orch: OrchestratorProcess, private_tmux: TmuxServer, project: Path
) -> None:
    async with await orch.client() as client:
        added = await client.call(
            "schedule.add",
            {
                "name": "nightly-tests",
                "cron": "30 2 * * *",
                "tz": "Europe/Berlin",
                "job": {"command": "echo from-the-scheduler-$((40+2))", "pane_type": "test"},
                "overlap": "queue",
            },
        )
        assert added["job"] == {
            "command": "echo from-the-scheduler-$((40+2))",
            "cwd": str(project),
            "pane_type": "test",
        }
        assert len(added["next_runs"]) == 3
        assert all(t.startswith(("20", "21")) and "T02:30:00+0" in t for t in added["next_runs"])
        listed = await client.call("schedule.list")
        assert [s["name"] for s in listed] == ["nightly-tests"] and listed[0]["last"] is None
        firing = await client.call("schedule.run_now", {"name": "nightly-tests"})
        # as it was when its command started, even if this quick one has ended since
        assert firing["state"] == "running" and firing["reason"] == "run_now"
        [done] = await settled(client, "nightly-tests")
        assert done["id"] == firing["id"] and done["state"] == "finished"
        assert done["exit_code"] == 0
        run = await client.call("run.get", {"id": done["run_id"]})
        assert run["command"] == "echo from-the-scheduler-$((40+2))" and run["exit_code"] == 0
        assert run["pane_name"] == "sched-nightly-tests"
        screen = private_tmux.run("capture-pane", "-p", "-t", done["pane_id"])
        assert "from-the-scheduler-42" in screen
        types = private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_name} #{@orchflow_type}")
        assert "sched-nightly-tests test" in types
        assert (await client.call("schedule.list"))[0]["last"]["id"] == done["id"]
        health = await client.call("system.health")
        assert health["schedules"] == 1
        removed = await client.call("schedule.remove", {"name": "nightly-tests"})
        assert removed == {"name": "nightly-tests", "removed": True, "still_running": 0}
        assert await client.call("schedule.list") == []


async def test_bad_schedules_are_named_errors(orch: OrchestratorProcess) -> None:
    job = {"command": "true"}
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"cron": "61 * * * *"}, InvalidArgumentError, "minute field '61' is not valid"),
        ({"cron": "@reboot"}, InvalidArgumentError, "'@reboot' is not supported"),
        ({"tz": "Europe/Atlantis"}, InvalidArgumentError, "unknown time zone 'Europe/Atlantis'"),
        ({"job": {"cmd": "x"}}, InvalidArgumentError, "unknown job field 'cmd'"),
        ({"job": {"command": "x", "cwd": "/nope"}}, InvalidArgumentError, "job.cwd '/nope'"),
        ({"on_missed": "twice"}, InvalidArgumentError, "on_missed must be one of"),
        ({"every": "day"}, InvalidArgumentError, "unknown parameter 'every'"),
    ]
    async with await orch.client() as client:
        for override, error, message in cases:
            params = {"name": "bad", "cron": "* * * * *", "job": job, **override}
            with pytest.raises(error, match=message):
                await client.call("schedule.add", params)
        await client.call("schedule.add", {"name": "ok", "cron": "@hourly", "job": job})
        with pytest.raises(ConflictError, match="exists already"):
            await client.call("schedule.add", {"name": "ok", "cron": "@daily", "job": job})
        with pytest.raises(NotFoundError, match=r"no schedule 'ko' \(schedules: ok\)"):
            await client.call("schedule.run_now", {"name": "ko"})


async def test_a_restart_applies_the_missed_run_policy(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    """Being down for three hours is made by moving ``last_due_at`` back in the stopped
    orchestrator's real SQLite file (no multi-hour sleep). The cron's minute is half an hour
    from now, so its latest due time is ~30 min old: late, hence missed."""
    minute = (time.localtime().tm_min + 30) % 60
    cron = f"{minute} * * * *"
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            for name, policy in (("skipper", "skip"), ("catcher", "run_once")):
                await client.call(
                    "schedule.add",
                    {
                        "name": name,
                        "cron": cron,
                        "job": {"command": f"echo {name}-ran"},
                        "on_missed": policy,
                    },
                )
    finally:
        assert await server.stop() == 0
    db = sqlite3.connect(base / "state" / "orchestrator.db")
    with db:
        db.execute("UPDATE schedules SET last_due_at = last_due_at - 3 * 3600")
    db.close()
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            [skipped] = await settled(client, "skipper")
            assert skipped["state"] == "skipped" and skipped["run_id"] is None
            assert "missed 3 run(s)" in skipped["reason"]
            [caught] = await settled(client, "catcher")
            assert caught["state"] == "finished" and caught["exit_code"] == 0
            assert caught["reason"] == "missed 3 run(s); on_missed=run_once runs it once now"
            run = await client.call("run.get", {"id": caught["run_id"]})
            assert run["command"] == "echo catcher-ran"
            listed = {s["name"]: s for s in await client.call("schedule.list")}
            assert listed["catcher"]["next_run_at"] > time.time()
    finally:
        await server.stop()


async def test_without_croniter_the_scheduler_says_so_and_locks_still_work(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    """The orchestrator's Python with croniter made unimportable (a .pth line in a fresh
    venv that borrows the project's packages), as on an install without the extra."""
    from tests.harness.venv import overlay_venv

    python = overlay_venv(
        tmp_path / "venv",
        extra_pth={"no_croniter.pth": "import sys; sys.modules['croniter'] = None\n"},
    )
    server = await OrchestratorProcess.start(
        tmp_path / "home", private_tmux.socket, python=str(python)
    )
    try:
        async with await server.client() as client:
            features = (await client.call("system.features"))["features"]
            assert features["scheduler"]["status"] == "unavailable"
            assert "croniter is not installed" in features["scheduler"]["reason"]
            with pytest.raises(UnavailableError, match="croniter is not installed"):
                await client.call("schedule.list")
            lock = await client.call("lock.acquire", {"resource": "r", "mode": "shared"})
            assert lock["mode"] == "shared"
    finally:
        await server.stop()
