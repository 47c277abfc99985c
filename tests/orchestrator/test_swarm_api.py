"""swarm.* through a real orchestrator process, a private tmux server and real commands:
exit codes, retries, a hang killed by its timeout with its children, 100 MB of output kept
bounded, strategies, locks, cancel, bad input by name, and a SIGKILLed orchestrator."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import InvalidArgumentError, NotFoundError, UnavailableError
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess

FINAL = ("succeeded", "failed", "cancelled")


async def settled(client: RpcClient, swarm_id: str, *, within: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            status = await client.call("swarm.status", {"swarm_id": swarm_id})
            if status["state"] in FINAL:
                return dict(status)
            await asyncio.sleep(0.1)


async def task_state(client: RpcClient, swarm_id: str, task: str, states: tuple[str, ...]) -> Any:
    async with asyncio.timeout(30):
        while True:
            status = await client.call("swarm.status", {"swarm_id": swarm_id})
            t = next(t for t in status["tasks"] if t["id"] == task)
            if t["state"] in states:
                return t
            await asyncio.sleep(0.05)


def by_id(status: dict[str, Any]) -> dict[str, Any]:
    return {t["id"]: t for t in status["tasks"]}


def pgrep(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


async def test_commands_exit_codes_retries_and_output(
    orch: OrchestratorProcess, private_tmux: TmuxServer, project: Path
) -> None:
    async with await orch.client() as client:
        events: list[Any] = []
        client.on_notification("swarm.progress", lambda params: events.append(params))
        assert await client.call("swarm.watch") == {"watching": True}
        submitted = await client.call(
            "swarm.submit",
            {
                "name": "basics",
                "tasks": [
                    {"id": "hello", "command": "echo swarm-says-$((6*7))"},
                    {"id": "nap", "command": "sleep 0.2"},
                    {"id": "bad", "command": "echo last-words; false", "retries": 1},
                    {"id": "after-bad", "command": "echo never", "deps": ["bad"]},
                    {"id": "after-ok", "command": "cat {inputs}", "deps": ["hello"]},
                ],
            },
        )
        assert submitted["tasks"] == 5 and submitted["swarm_id"].startswith("sw-")
        status = await settled(client, submitted["swarm_id"])
        tasks = by_id(status)
        assert status["state"] == "failed" and "bad" in status["reason"]
        assert tasks["hello"]["state"] == "succeeded" and tasks["hello"]["exit_code"] == 0
        assert "swarm-says-42" in tasks["hello"]["output_tail"]
        assert tasks["hello"]["host"] == "local" and tasks["hello"]["attempts"] == 1
        assert tasks["hello"]["started_at"] <= tasks["hello"]["finished_at"]
        assert tasks["bad"]["state"] == "failed" and tasks["bad"]["exit_code"] == 1
        assert tasks["bad"]["attempts"] == 2 and "last-words" in tasks["bad"]["output_tail"]
        assert tasks["after-bad"]["state"] == "skipped"
        assert tasks["after-bad"]["reason"] == "dependency 'bad' failed"
        # an input: the dep's output file
        assert "swarm-says-42" in tasks["after-ok"]["output_tail"]
        types = private_tmux.run("list-panes", "-a", "-F", "#{pane_id} #{@orchflow_type}")
        assert f"{tasks['after-ok']['pane_id']} swarm" in types  # a pooled pane, reused
        run_rows = await client.call("run.list", {"limit": 20})
        assert any(r["command"] == "sleep 0.2" and r["exit_code"] == 0 for r in run_rows)
        seen = {(e["task"]["id"], e["task"]["state"]) for e in events if e["task"]}
        assert {("hello", "running"), ("hello", "succeeded"), ("bad", "backoff")} <= seen
        assert any(e["task"] is None and e["state"] == "failed" for e in events)
        listed = await client.call("swarm.list")
        assert listed[0]["swarm_id"] == submitted["swarm_id"]
        assert listed[0]["tasks"] == {"succeeded": 3, "failed": 1, "skipped": 1}
    db = sqlite3.connect(orch.base / "state" / "orchestrator.db")
    attempts = db.execute(
        "SELECT n, ending, exit_code FROM swarm_attempts WHERE task_id = 'bad' ORDER BY n"
    ).fetchall()
    db.close()
    assert attempts == [(1, "exited", 1), (2, "exited", 1)]


async def test_bad_swarms_are_refused_before_anything_starts(orch: OrchestratorProcess) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "tasks": [
                    {"id": "a", "command": "true", "deps": ["c"]},
                    {"id": "b", "command": "true", "deps": ["a"]},
                    {"id": "c", "command": "true", "deps": ["b"]},
                ]
            },
            "dependency cycle: a -> c -> b -> a",
        ),
        ({"tasks": [{"id": "a", "command": "true", "deps": ["ghost"]}]}, "unknown task 'ghost'"),
        ({"tasks": [{"id": "a"}]}, "needs exactly one of command"),
        (
            {"tasks": [{"id": f"t{i}", "command": "true"} for i in range(10_000)]},
            "at most 1000 tasks, got 10000",
        ),
        ({"tasks": [{"id": "a", "command": "true"}], "max_parallel": 0}, "got 0"),
        ({"tasks": [{"id": "a", "command": "true"}], "strategy": "scatter"}, "'scatter'"),
        ({"tasks": [{"id": "a", "command": "true", "cwd": "/no/such/dir"}]}, "/no/such/dir"),
    ]
    async with await orch.client() as client:
        for params, expected in cases:
            with pytest.raises(InvalidArgumentError) as err:
                await client.call("swarm.submit", params)
            assert expected in err.value.message
        with pytest.raises(UnavailableError, match="Ray executor"):
            await client.call(
                "swarm.submit", {"tasks": [{"id": "a", "command": "true", "host": "gpu"}]}
            )
        assert await client.call("swarm.list") == []
        with pytest.raises(NotFoundError):
            await client.call("swarm.status", {"swarm_id": "sw-none"})


async def test_a_hang_is_killed_with_its_children_and_big_output_is_bounded(
    orch: OrchestratorProcess, tmp_path: Path
) -> None:
    marker = f"hang-marker-{os.getpid()}"
    script = tmp_path / "hang.sh"
    script.write_text(f"sleep 300.25 & sleep 301.25 & echo {marker}; wait\n")
    async with await orch.client() as client:
        submitted = await client.call(
            "swarm.submit",
            {
                "tasks": [
                    {"id": "hang", "command": f"bash {script}", "timeout_s": 1.5},
                    {
                        "id": "flood",
                        "command": "head -c 100000000 /dev/zero | tr '\\0' x | fold -w 100;"
                        " echo flood-done",
                    },
                    {"id": "quick", "command": "echo quick-done"},
                ]
            },
        )
        running = await task_state(client, submitted["swarm_id"], "hang", ("running",))
        assert running["pane_id"]
        async with asyncio.timeout(10):
            while not pgrep(f"bash {script}"):  # noqa: ASYNC110 - another process's state
                await asyncio.sleep(0.05)
        status = await settled(client, submitted["swarm_id"], within=120)
        tasks = by_id(status)
        assert tasks["hang"]["state"] == "failed"
        assert tasks["hang"]["reason"].startswith("timed out after 1.5 s; killed")
        assert pgrep(f"bash {script}") == [] and pgrep(r"sleep 30[01]\.25") == []
        assert tasks["quick"]["state"] == "succeeded"
        flood = tasks["flood"]
        assert flood["state"] == "succeeded" and "flood-done" in flood["output_tail"]
        assert len(flood["output_tail"]) <= 4096
        out = Path(flood["output_path"])
        assert out.stat().st_size <= 1 << 20 and out.read_text().endswith("flood-done\n")


async def test_strategies_map_reduce_and_pipeline(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        mapped = await client.call(
            "swarm.submit",
            {
                "strategy": "map",
                "inputs": ["alpha", "beta gamma"],
                "tasks": [
                    {"id": "count", "command": "printf '%s\\n' {input} | wc -w"},
                    {"id": "sum", "command": "cat {inputs} | paste -sd+ | bc", "deps": ["count"]},
                ],
            },
        )
        status = await settled(client, mapped["swarm_id"])
        tasks = by_id(status)
        assert set(tasks) == {"count-1", "count-2", "sum"} and status["state"] == "succeeded"
        assert tasks["count-2"]["output_tail"].strip() == "2"
        assert tasks["sum"]["output_tail"].strip() == "3"
        piped = await client.call(
            "swarm.submit",
            {
                "strategy": "pipeline",
                "tasks": [
                    {"id": "make", "command": "echo pipeline-one"},
                    {"id": "upper", "command": "tr a-z A-Z < {input}"},
                    {"id": "rev", "command": "rev < {input}"},
                ],
            },
        )
        tasks = by_id(await settled(client, piped["swarm_id"]))
        assert tasks["rev"]["output_tail"].strip() == "ENO-ENILEPIP"
        reduced = await client.call(
            "swarm.submit",
            {
                "strategy": "reduce",
                "tasks": [
                    {"id": "a", "command": "echo 1"},
                    {"id": "b", "command": "echo 2"},
                    {"id": "total", "command": "cat {inputs} | paste -sd+ | bc"},
                ],
            },
        )
        tasks = by_id(await settled(client, reduced["swarm_id"]))
        assert tasks["total"]["output_tail"].strip() == "3"


async def test_locks_are_taken_per_task_and_cancel_stops_everything(
    orch: OrchestratorProcess, tmp_path: Path
) -> None:
    log = tmp_path / "order.log"
    async with await orch.client() as client:
        # an exclusive lock serialises two tasks that would otherwise run together
        locked = await client.call(
            "swarm.submit",
            {
                "tasks": [
                    {
                        "id": f"w{i}",
                        "command": f"echo start-{i} >> {log}; sleep 0.3; echo end-{i} >> {log}",
                        "locks": [{"resource": "db:migrations", "mode": "exclusive"}],
                    }
                    for i in (1, 2)
                ]
            },
        )
        assert (await settled(client, locked["swarm_id"]))["state"] == "succeeded"
        lines = log.read_text().split()
        assert lines in (
            ["start-1", "end-1", "start-2", "end-2"],
            ["start-2", "end-2", "start-1", "end-1"],
        )
        assert (await client.call("lock.list"))["locks"] == []
        # held by another client: the task waits for it
        held = await client.call("lock.acquire", {"resource": "deploy", "mode": "exclusive"})
        waiting = await client.call(
            "swarm.submit",
            {
                "tasks": [
                    {
                        "id": "deploy",
                        "command": "echo deployed",
                        "locks": [{"resource": "deploy", "mode": "exclusive"}],
                    },
                    {"id": "long", "command": "sleep 600"},
                    {"id": "later", "command": "echo later", "deps": ["long"]},
                ]
            },
        )
        await task_state(client, waiting["swarm_id"], "long", ("running",))
        listed = await client.call("lock.list")
        assert [w["resource"] for w in listed["waiting"]] == ["deploy"]
        assert pgrep("sleep 600")
        cancelled = await client.call("swarm.cancel", {"swarm_id": waiting["swarm_id"]})
        assert cancelled["state"] == "cancelled"
        tasks = by_id(cancelled)
        assert {t["state"] for t in tasks.values()} == {"cancelled"}
        assert pgrep("sleep 600") == []
        assert (await client.call("lock.list"))["waiting"] == []
        await client.call("lock.release", {"lock_id": held["lock_id"]})


async def test_sigkill_mid_swarm_then_restart_is_truthful(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    base = tmp_path / "home"
    flag = tmp_path / "release"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            submitted = await client.call(
                "swarm.submit",
                {
                    "tasks": [
                        {"id": "done", "command": "echo finished-before"},
                        {
                            "id": "survivor",
                            "command": f"while [ ! -e {flag} ]; do sleep 0.1; done; echo survived",
                        },
                        {"id": "victim", "command": "sleep 500"},
                        {"id": "next", "command": "echo next-ran", "deps": ["survivor"]},
                    ]
                },
            )
            swarm_id = submitted["swarm_id"]
            await task_state(client, swarm_id, "done", ("succeeded",))
            survivor = await task_state(client, swarm_id, "survivor", ("running",))
            victim = await task_state(client, swarm_id, "victim", ("running",))
    finally:
        server.proc.send_signal(signal.SIGKILL)
        await server.proc.wait()
    # while it is down: the victim's command is killed (it cannot be observed to end)
    for pid in pgrep("sleep 500"):
        os.kill(pid, signal.SIGKILL)
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            tasks = by_id(await client.call("swarm.status", {"swarm_id": swarm_id}))
            assert tasks["done"]["state"] == "succeeded" and tasks["done"]["attempts"] == 1
            lost = await task_state(client, swarm_id, "victim", ("lost", "failed"))
            assert lost["state"] == "lost" and lost["attempts"] == 1
            assert "orchestrator" in lost["reason"]
            again = await task_state(client, swarm_id, "survivor", ("running", "succeeded"))
            assert again["pane_id"] == survivor["pane_id"] and again["attempts"] == 1
            flag.touch()
            status = await settled(client, swarm_id)
            tasks = by_id(status)
            assert tasks["survivor"]["state"] == "succeeded"
            assert tasks["survivor"]["exit_code"] == 0 and tasks["survivor"]["attempts"] == 1
            assert "survived" in tasks["survivor"]["output_tail"]
            assert tasks["next"]["state"] == "succeeded"
            assert status["state"] == "failed" and victim["pane_id"]
    finally:
        await server.stop()
    db = sqlite3.connect(base / "state" / "orchestrator.db")
    rows = dict(db.execute("SELECT id, state FROM swarm_tasks").fetchall())
    db.close()
    assert rows == {
        "done": "succeeded",
        "survivor": "succeeded",
        "victim": "lost",
        "next": "succeeded",
    }


async def test_a_schedule_runs_a_swarm_job(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        added = await client.call(
            "schedule.add",
            {
                "name": "nightly-swarm",
                "cron": "30 2 * * *",
                "job": {
                    "swarm": {
                        "strategy": "sequential",
                        "tasks": [
                            {"id": "one", "command": "echo sched-swarm-1"},
                            {"id": "two", "command": "echo sched-swarm-2"},
                        ],
                    }
                },
            },
        )
        assert added["job"]["swarm"]["strategy"] == "sequential"
        firing = await client.call("schedule.run_now", {"name": "nightly-swarm"})
        assert firing["run_id"].startswith("sw-") and firing["pane_id"] is None
        status = await settled(client, firing["run_id"])
        assert status["name"] == "sched-nightly-swarm" and status["state"] == "succeeded"
        assert "sched-swarm-2" in by_id(status)["two"]["output_tail"]
        async with asyncio.timeout(30):
            while True:
                [done] = await client.call("schedule.history", {"name": "nightly-swarm"})
                if done["state"] != "running":
                    break
                await asyncio.sleep(0.05)
        assert done["state"] == "finished" and done["exit_code"] == 0
        bad = [
            (
                {"swarm": {"tasks": [{"id": "a", "command": "true", "deps": ["a"]}]}},
                "depends on itself",
            ),
            ({"prompt": "hi", "agent": "nobody"}, "unknown agent 'nobody'"),
            ({"command": "true", "swarm": {"tasks": []}}, "exactly one of command"),
        ]
        for job, message in bad:
            with pytest.raises(InvalidArgumentError, match=message):
                await client.call("schedule.add", {"name": "bad", "cron": "@daily", "job": job})
