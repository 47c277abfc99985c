"""agent.restart and ACP agents across an orchestrator restart, through a real orchestrator
process and the scripted ACP agent (a stand-in for a paid model behind a real agent CLI:
tests/orchestrator/acp/scripted_agent.py). ``loader`` keeps its conversations on disk and
offers ``session/load``; ``scripted`` does not."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import SCRIPT, agents_toml, wait_state
from tests.orchestrator.server_process import OrchestratorProcess


def _config(base: Path, sessions: Path) -> None:
    loader = json.dumps([sys.executable, "-I", str(SCRIPT), "--sessions", str(sessions)])
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(agents_toml() + f'\n[agents.loader]\ncommand = {loader}\ntransport = "acp"\n')


@pytest.fixture
def sessions(tmp_path: Path) -> Path:
    path = tmp_path / "agent-sessions"  # the scripted agent's own history (as ~/.claude)
    path.mkdir()
    return path


@pytest.fixture
async def orch(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path, sessions: Path
) -> AsyncIterator[OrchestratorProcess]:
    _config(tmp_path / "home", sessions)
    server = await OrchestratorProcess.start(
        tmp_path / "home", private_tmux.socket, project_root=workdir
    )
    try:
        yield server
    finally:
        await server.stop()


async def _agent(client: RpcClient, agent: str, name: str) -> dict[str, Any]:
    made = await client.call("agent.create", {"type": "ai", "agent": agent, "name": name})
    return await wait_state(client, made["id"], {"idle"})


async def _turn(client: RpcClient, agent_id: str, text: str) -> None:
    """Prompt and wait until that turn ended."""
    turn = (await client.call("agent.prompt", {"id": agent_id, "text": text}))["turn_id"]
    async with asyncio.timeout(20):
        while True:
            turns = await client.call("agent.turns", {"id": agent_id})
            if any(t["turn_id"] == turn and t["state"] == "ended" for t in turns):
                return
            await asyncio.sleep(0.05)


async def _output(client: RpcClient, agent_id: str) -> str:
    return str((await client.call("agent.output", {"id": agent_id, "lines": 10000}))["text"])


async def test_restart_loads_the_session_and_the_history_is_replayed(
    orch: OrchestratorProcess,
) -> None:
    async with await orch.client() as client:
        agent = await _agent(client, "loader", "keeper")
        await _turn(client, agent["id"], "echo: first words")
        before = await client.call("agent.get", {"id": agent["id"]})
        assert "echo=first words" in await _output(client, agent["id"])

        got = await client.call("agent.restart", {"id": "keeper"})
        assert got == {"id": agent["id"], "name": "keeper", "resumed": True, "how": "session/load"}
        after = await client.call("agent.get", {"id": agent["id"]})
        assert after["state"] == "idle" and after["state_source"] == "process"
        assert after["state_reason"] == "restarted (session/load)"
        assert after["acp_session_id"] == before["acp_session_id"]
        assert after["pid"] != before["pid"]
        text = await _output(client, agent["id"])
        replay = text[text.index(f"[session/load {before['acp_session_id']}]") :]
        assert "first words" in replay and "echo=first words" in replay  # replayed
        assert text.count("echo=first words") == 2  # what it showed before, then the replay

        await _turn(client, agent["id"], "echo: second")  # the loaded session takes prompts
        assert "echo=second" in await _output(client, agent["id"])
        turns = await client.call("agent.turns", {"id": agent["id"]})
        assert [t["turn_id"] for t in turns] == ["t1", "t2"]  # numbering goes on


async def test_an_agent_without_session_load_restarts_fresh_and_says_why(
    orch: OrchestratorProcess,
) -> None:
    async with await orch.client() as client:
        agent = await _agent(client, "scripted", "plain")
        old = agent["acp_session_id"]
        got = await client.call("agent.restart", {"id": agent["id"], "resume": True})
        assert got == {
            "id": agent["id"],
            "name": "plain",
            "resumed": False,
            "how": "fresh: scripted does not offer session/load",
        }
        now = await client.call("agent.get", {"id": "plain"})
        assert now["state"] == "idle" and now["acp_session_id"] != old
        assert "does not offer session/load" in await _output(client, agent["id"])

        loader = await _agent(client, "loader", "chosen-fresh")
        got = await client.call("agent.restart", {"id": loader["id"], "resume": False})
        assert got["resumed"] is False and got["how"] == "fresh: resume was false"


async def test_a_crashed_agent_restarts_with_its_conversation(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        agent = await _agent(client, "loader", "fragile")
        await _turn(client, agent["id"], "echo: remember me")
        await client.call("agent.prompt", {"id": agent["id"], "text": "crash"})
        dead = await wait_state(client, agent["id"], {"error"})
        assert "exited with code 3" in dead["state_reason"]
        got = await client.call("agent.restart", {"id": agent["id"]})
        assert got["resumed"] is True
        text = await _output(client, agent["id"])
        assert "remember me" in text[text.index("[session/load") :]


async def test_restart_names_bad_input(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        with pytest.raises(NotFoundError, match="no AI agent 'ghost' to restart"):
            await client.call("agent.restart", {"id": "ghost"})
        agent = await _agent(client, "scripted", "typed")
        with pytest.raises(InvalidArgumentError, match="resume"):
            await client.call("agent.restart", {"id": agent["id"], "resume": "yes"})
        assert (await client.call("agent.get", {"id": agent["id"]}))["state"] == "idle"
        twice = await asyncio.gather(
            client.call("agent.restart", {"id": agent["id"]}),
            client.call("agent.restart", {"id": agent["id"]}),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in twice) == ["ConflictError", "dict"]
        assert "being restarted already" in str(next(r for r in twice if isinstance(r, Exception)))
        assert (await client.call("agent.get", {"id": agent["id"]}))["state"] == "idle"


async def test_acp_agents_come_back_after_the_orchestrator_is_killed(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path, sessions: Path
) -> None:
    base = tmp_path / "home"
    _config(base, sessions)
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        async with await server.client() as client:
            loader = await _agent(client, "loader", "survivor")
            await _turn(client, loader["id"], "echo: before the crash")
            plain = await _agent(client, "scripted", "forgetful")
            gone = await _agent(client, "loader", "stopped-one")
            await client.call("agent.stop", {"id": gone["id"]})
            broken = await _agent(client, "loader", "broken")
            await client.call("agent.prompt", {"id": broken["id"], "text": "crash"})
            await wait_state(client, broken["id"], {"error"})
    finally:
        server.proc.send_signal(signal.SIGKILL)
        assert await server.wait() == -signal.SIGKILL

    again = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        async with await again.client() as client:
            back = await wait_state(client, loader["id"], {"idle", "error", "exited"})
            assert back["name"] == "survivor" and back["state"] == "idle"
            assert back["state_source"] == "process"
            assert back["state_reason"] == "restarted with the orchestrator (session/load)"
            assert back["acp_session_id"] == loader["acp_session_id"]
            text = await _output(client, loader["id"])
            assert "before the crash" in text and "echo=before the crash" in text
            await _turn(client, loader["id"], "echo: after the crash")
            assert "echo=after the crash" in await _output(client, loader["id"])

            lost = await client.call("agent.get", {"id": plain["id"]})
            assert lost["state"] == "exited" and lost["name"] == "forgetful"
            assert lost["state_reason"] == (
                "the orchestrator restarted; scripted cannot load its session — "
                "`agent.restart` starts it fresh"
            )
            was = await client.call("agent.get", {"id": broken["id"]})  # as it ended
            assert was["state"] == "error"
            assert was["state_reason"].startswith("the agent exited with code 3 mid-turn")
            assert was["state_reason"].endswith("(before the orchestrator restarted)")
            names = {a["name"] for a in await client.call("agent.list")}
            assert "stopped-one" not in names and {"survivor", "forgetful"} <= names
            got = await client.call("agent.restart", {"id": "forgetful"})
            assert got["resumed"] is False and got["id"] == plain["id"]
            assert (await client.call("agent.get", {"id": plain["id"]}))["state"] == "idle"
            await client.call("agent.stop", {"id": loader["id"]})
    finally:
        await again.stop()
    db = sqlite3.connect(base / "state" / "orchestrator.db")
    rows = {
        r[0]: r[1:] for r in db.execute("SELECT name, session_id, stopped_at FROM agent_sessions")
    }
    db.close()
    assert rows["survivor"][0] == loader["acp_session_id"] and rows["survivor"][1] is not None
    assert rows["stopped-one"][1] is not None
    assert rows["forgetful"][1] is None  # stopped gracefully: it comes back next time


async def test_acp_agents_come_back_after_a_graceful_stop(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path, sessions: Path
) -> None:
    base = tmp_path / "home"
    _config(base, sessions)
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    async with await server.client() as client:
        agent = await _agent(client, "loader", "patient")
        await _turn(client, agent["id"], "echo: said before the stop")
    assert await server.stop() == 0  # its ACP agents end with it...
    again = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        async with await again.client() as client:  # ...and come back with the next one
            back = await wait_state(client, agent["id"], {"idle", "error", "exited"})
            assert back["state"] == "idle", back["state_reason"]
            assert back["name"] == "patient"
            assert back["state_reason"] == "restarted with the orchestrator (session/load)"
            assert "echo=said before the stop" in await _output(client, agent["id"])
    finally:
        await again.stop()


async def test_an_acp_agent_brought_back_keeps_its_locks(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path, sessions: Path
) -> None:
    """Locks are stored (migration 7) and agents resumed (migration 8): an ACP agent that
    comes back with the restarted orchestrator still holds what it declared."""
    base = tmp_path / "home"
    _config(base, sessions)
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        async with await server.client() as client:
            made = await client.call(
                "agent.create",
                {
                    "type": "ai",
                    "agent": "loader",
                    "name": "holder",
                    "locks": [{"resource": "db:main", "mode": "exclusive"}],
                },
            )
            await wait_state(client, made["id"], {"idle"})
    finally:
        server.proc.send_signal(signal.SIGKILL)
        assert await server.wait() == -signal.SIGKILL

    again = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        async with await again.client() as client:
            back = await wait_state(client, made["id"], {"idle", "error", "exited"})
            assert back["state"] == "idle"
            held = (await client.call("lock.list"))["locks"]
            assert [(lock["resource"], lock["owner"], lock["restored"]) for lock in held] == [
                ("db:main", "agent holder", True)
            ]
            with pytest.raises(ConflictError, match="'db:main' is held by agent holder"):
                await client.call("lock.acquire", {"resource": "db:main", "mode": "exclusive"})
            stopped = await client.call("agent.stop", {"id": made["id"]})
            assert stopped.get("locks_released") == 1
            assert (await client.call("lock.list"))["locks"] == []
    finally:
        await again.stop()
