"""Prompt tasks of a swarm go to an ACP agent of the registry (the scripted agent: the
real wire format, no paid model); an agent whose CLI is missing says "unavailable"."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import InvalidArgumentError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import Watcher, agents_toml
from tests.orchestrator.server_process import OrchestratorProcess


@pytest.fixture
async def orch_with_agents(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    missing = '[agents.missing]\ncommand = ["/nonexistent/agent-cli"]\ntransport = "acp"\n'
    config.write_text(agents_toml() + "\n" + missing)
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        yield server
    finally:
        await server.stop()


async def test_prompt_tasks_run_on_registry_agents(orch_with_agents: OrchestratorProcess) -> None:
    async with await orch_with_agents.client() as client:
        submitted = await client.call(
            "swarm.submit",
            {
                "tasks": [
                    {"id": "greet", "prompt": "hello", "agent": "scripted", "agent_type": "ai"},
                    {"id": "tool", "prompt": "run: echo from-a-swarm-agent", "agent": "scripted"},
                    {"id": "gone", "prompt": "hello", "agent": "missing"},
                    {"id": "then", "command": "echo after-agents", "deps": ["greet", "tool"]},
                ]
            },
        )
        async with asyncio.timeout(60):
            while True:
                status: dict[str, Any] = await client.call(
                    "swarm.status", {"swarm_id": submitted["swarm_id"]}
                )
                if status["state"] != "running":
                    break
                await asyncio.sleep(0.1)
        tasks = {t["id"]: t for t in status["tasks"]}
        assert tasks["greet"]["state"] == "succeeded" and tasks["greet"]["exit_code"] == 0
        assert "Hello there." in tasks["greet"]["output_tail"]
        assert tasks["tool"]["state"] == "succeeded"
        transcript = Path(tasks["tool"]["output_path"]).read_text()
        assert "exit=0 output=from-a-swarm-agent" in transcript
        assert "ended: end_turn" in tasks["tool"]["output_tail"]
        assert "Hello there." not in transcript  # its own part of the agent's transcript
        assert tasks["gone"]["state"] == "failed"
        assert tasks["gone"]["reason"].startswith("unavailable: agent 'missing'")
        assert "/nonexistent/agent-cli" in tasks["gone"]["reason"]
        assert tasks["then"]["state"] == "succeeded"
        assert status["state"] == "failed"
        agents = await client.call("agent.list")
        pooled = [a for a in agents if a.get("transport") == "acp"]
        # the two warm agents stay in the pool, idle, until [swarm] agent_idle_s
        assert {a["name"] for a in pooled} == {
            tasks[t]["agent_run"]["name"] for t in ("greet", "tool")
        }
        assert all(a["name"].startswith("pool-scripted-") and a["state"] == "idle" for a in pooled)
        # pooled agents end with the pool: a restarted orchestrator does not bring them back
        db = sqlite3.connect(orch_with_agents.base / "state" / "orchestrator.db")
        kept = [r[0] for r in db.execute("SELECT name FROM agent_sessions")]
        db.close()
        assert not [n for n in kept if n.startswith("pool-")]
        with pytest.raises(InvalidArgumentError, match="unknown agent 'nobody'"):
            await client.call(
                "swarm.submit", {"tasks": [{"id": "x", "prompt": "hi", "agent": "nobody"}]}
            )


# -- the pool of warm agents (orchestrator/swarm/agent_pool.py) ---------------------------


def agent_processes(parent: int) -> set[int]:
    """The scripted agents running now as children of ``parent`` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and b"scripted_agent.py" in cmdline and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def pool_orch(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(agents_toml() + "\n[swarm]\nagent_idle_s = 3\n")
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        yield server
    finally:
        await server.stop()


async def until_ended(client: Any, swarm_id: str, *, within: float = 60.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            status: dict[str, Any] = await client.call("swarm.status", {"swarm_id": swarm_id})
            if status["state"] != "running":
                return status
            await asyncio.sleep(0.1)


async def test_six_prompt_tasks_reuse_two_warm_agents_each_in_its_own_session(
    pool_orch: OrchestratorProcess,
) -> None:
    orch_pid = pool_orch.proc.pid
    async with await pool_orch.client() as client:
        watcher = Watcher(client)
        await client.call("agent.watch", {})
        tasks = [{"id": f"w{i}", "prompt": "whoami", "agent": "scripted"} for i in range(6)]
        sub = await client.call("swarm.submit", {"tasks": tasks, "max_parallel": 2})
        seen: set[int] = set()
        most = 0
        async with asyncio.timeout(60):
            while True:
                now = agent_processes(orch_pid)
                seen |= now
                most = max(most, len(now))
                status = await client.call("swarm.status", {"swarm_id": sub["swarm_id"]})
                if status["state"] != "running":
                    break
                await asyncio.sleep(0.02)
        assert status["state"] == "succeeded", status
        assert most == 2 and len(seen) == 2, (most, seen)  # two processes, never more
        sessions, pids = set(), set()
        for task in status["tasks"]:
            said = re.search(r"session=(\S+) pid=(\d+) prompts=(\d+)", task["output_tail"])
            assert said is not None, task["output_tail"]
            assert said.group(3) == "1"  # a fresh session: no earlier prompt in it
            run = task["agent_run"]
            assert run["name"].startswith("pool-scripted-")
            assert (run["session_id"], run["pid"]) == (said.group(1), int(said.group(2)))
            sessions.add(said.group(1))
            pids.add(int(said.group(2)))
        assert len(sessions) == 6 and pids == seen
        assert sum(t["agent_run"]["tasks"] > 1 for t in status["tasks"]) >= 4  # reused
        features = (await client.call("system.features"))["features"]
        pool = features["swarm"]["agent_pool"]
        assert (pool["agents"], pool["busy"], pool["started"], pool["reused"]) == (2, 0, 2, 4)
        assert "warm ACP agents" in features["swarm"]["reason"]
        # idle for [swarm] agent_idle_s (3 s): both close, their processes end, and
        # agent.list forgets them
        pool_ids = {a["id"] for a in await client.call("agent.list") if a.get("transport") == "acp"}
        assert len(pool_ids) == 2
        closed: set[str] = set()
        await watcher.wait_for(
            lambda m, p: (
                m == "agent.state"
                and p["id"] in pool_ids
                and p["state"] == "exited"
                and (closed.add(p["id"]) or closed == pool_ids)
            ),
            within=30,
        )
        assert not any(alive(pid) for pid in pids)
        assert agent_processes(orch_pid) == set()
        async with asyncio.timeout(10):
            while any(a.get("transport") == "acp" for a in await client.call("agent.list")):  # noqa: ASYNC110 - agent.list is what a user sees
                await asyncio.sleep(0.05)


async def test_a_killed_pool_agent_is_replaced_and_its_task_retried(
    pool_orch: OrchestratorProcess, tmp_path: Path
) -> None:
    marker = tmp_path / "blocked-once"
    async with await pool_orch.client() as client:
        sub = await client.call(
            "swarm.submit",
            {
                "tasks": [
                    {"id": "once", "prompt": f"once: {marker}", "agent": "scripted", "retries": 1}
                ]
            },
        )
        async with asyncio.timeout(30):
            while not marker.exists() or not marker.read_text():  # noqa: ASYNC110 - a file
                await asyncio.sleep(0.02)
        killed = int(marker.read_text())
        os.kill(killed, signal.SIGKILL)
        status = await until_ended(client, sub["swarm_id"])
        task = status["tasks"][0]
        assert status["state"] == "succeeded", status
        assert task["attempts"] == 2
        again = re.search(r"again pid=(\d+)", task["output_tail"])
        assert again is not None and int(again.group(1)) != killed
        assert task["agent_run"]["pid"] == int(again.group(1))
        assert not alive(killed)
        pooled = [a for a in await client.call("agent.list") if a.get("transport") == "acp"]
        assert [a["pid"] for a in pooled] == [int(again.group(1))]  # the replacement only


async def test_no_agent_process_outlives_the_orchestrator(
    pool_orch: OrchestratorProcess,
) -> None:
    async with await pool_orch.client() as client:
        tasks = [{"id": f"h{i}", "prompt": "hello", "agent": "scripted"} for i in range(3)]
        sub = await client.call("swarm.submit", {"tasks": tasks, "max_parallel": 3})
        status = await until_ended(client, sub["swarm_id"])
        assert status["state"] == "succeeded", status
        pids = agent_processes(pool_orch.proc.pid)
        assert len(pids) == 3  # warmed for the three tasks, idle in the pool now
        assert {t["agent_run"]["pid"] for t in status["tasks"]} <= pids
    assert await pool_orch.stop() == 0
    assert not any(alive(p) for p in pids)


async def test_a_timed_out_turn_drops_its_agent_a_cancelled_one_keeps_it(
    pool_orch: OrchestratorProcess,
) -> None:
    async with await pool_orch.client() as client:
        task = {"id": "slow", "prompt": "wait", "agent": "scripted", "timeout_s": 1}
        sub = await client.call("swarm.submit", {"tasks": [task]})
        status = await until_ended(client, sub["swarm_id"])
        row = status["tasks"][0]
        assert row["state"] == "failed" and row["reason"] == "timed out after 1 s"
        timed_out = row["agent_run"]["pid"]
        assert not alive(timed_out)  # stopped: a turn that would not end is not trusted
        # swarm.cancel: the turn is cancelled and the agent, still sound, goes back
        sub = await client.call(
            "swarm.submit", {"tasks": [{"id": "w", "prompt": "wait", "agent": "scripted"}]}
        )
        async with asyncio.timeout(30):
            while True:  # its pooled agent is at work on it
                status = await client.call("swarm.status", {"swarm_id": sub["swarm_id"]})
                run = status["tasks"][0]["agent_run"]
                if (
                    run
                    and (await client.call("agent.get", {"id": run["id"]}))["state"] == "working"
                ):
                    break
                await asyncio.sleep(0.05)
        cancelled = await client.call("swarm.cancel", {"swarm_id": sub["swarm_id"]})
        assert cancelled["state"] == "cancelled" and cancelled["tasks"][0]["state"] == "cancelled"
        kept = cancelled["tasks"][0]["agent_run"]
        assert alive(kept["pid"])
        sub = await client.call(
            "swarm.submit", {"tasks": [{"id": "who", "prompt": "whoami", "agent": "scripted"}]}
        )
        status = await until_ended(client, sub["swarm_id"])
        row = status["tasks"][0]
        assert row["state"] == "succeeded"
        assert row["agent_run"]["pid"] == kept["pid"]  # the same process, a new session
        assert row["agent_run"]["session_id"] != kept["session_id"]
        assert "prompts=1" in row["output_tail"]


async def test_the_pool_is_bounded_and_a_task_waiting_for_an_agent_can_be_cancelled(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path
) -> None:
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(agents_toml() + "\n[swarm]\nagent_pool_max = 1\n")
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        async with await server.client() as client:
            tasks = [{"id": f"w{i}", "prompt": "wait", "agent": "scripted"} for i in range(2)]
            sub = await client.call("swarm.submit", {"tasks": tasks, "max_parallel": 2})
            async with asyncio.timeout(30):
                while True:  # one task's agent is at work, the other task waits for one
                    status = await client.call("swarm.status", {"swarm_id": sub["swarm_id"]})
                    runs = [t["agent_run"] for t in status["tasks"] if t["agent_run"]]
                    if runs:
                        agent = await client.call("agent.get", {"id": runs[0]["id"]})
                        if agent["state"] == "working":
                            break
                    await asyncio.sleep(0.05)
            assert len(runs) == 1
            assert agent_processes(server.proc.pid) == {runs[0]["pid"]}
            cancelled = await client.call("swarm.cancel", {"swarm_id": sub["swarm_id"]})
            assert cancelled["state"] == "cancelled"
            assert [t["state"] for t in cancelled["tasks"]] == ["cancelled", "cancelled"]
            assert alive(runs[0]["pid"])  # its turn was cancelled; the agent stays pooled
            features = (await client.call("system.features"))["features"]
            assert features["swarm"]["agent_pool"]["agents"] == 1
    finally:
        await server.stop()
