"""ACP agents end to end: a real orchestrator process is the ACP client of the scripted
agent (a stand-in for a paid model, see scripted_agent.py), terminals are real tmux panes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import Watcher, wait_state
from tests.orchestrator.server_process import OrchestratorProcess


async def test_a_turn_streams_updates_and_ends_idle(
    acp_orch: OrchestratorProcess, watcher: Watcher, workdir: Path
) -> None:
    client = watcher.client
    agent = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "bot"})
    assert agent["type"] == "ai" and agent["transport"] == "acp" and agent["state"] == "starting"
    idle = await wait_state(client, agent["id"], {"idle"})
    assert idle["state_source"] == "acp" and idle["cwd"] == str(workdir)
    turn = await client.call("agent.prompt", {"id": "bot", "text": "hello"})
    assert turn["turn_id"] == "t1"
    ended = await watcher.wait_for(lambda m, p: m == "agent.turn" and p["turn_id"] == "t1")
    assert ended["stop_reason"] == "end_turn"
    text = watcher.text(agent["id"])
    assert "> hello\n" in text
    assert "(thinking) thinking about it" in text
    assert "Hello there." in text
    assert "[x] greet" in text and "[ ] rest" in text
    assert "[usage] 1200/200000 tokens" in text
    states = [p["state"] for m, p in watcher.seen if m == "agent.state" and p["id"] == agent["id"]]
    assert states == ["idle", "working", "idle"]
    got = await client.call("agent.get", {"id": "bot"})
    assert got["state"] == "idle" and got["usage"]["context"]["used"] == 1200
    assert [t["source"] for t in got["transitions"]] == ["process", "acp", "acp", "acp"]
    turns = await client.call("agent.turns", {"id": "bot"})
    assert [(t["turn_id"], t["stop_reason"], t["state"]) for t in turns] == [
        ("t1", "end_turn", "ended")
    ]
    output = await client.call("agent.output", {"id": "bot"})
    assert "Hello there." in output["text"]
    listed = await client.call("agent.list")
    assert [a["name"] for a in listed if a["type"] == "ai"] == ["bot"]


async def test_a_tool_call_runs_its_terminal_in_a_tmux_pane(
    acp_orch: OrchestratorProcess, watcher: Watcher, private_tmux: TmuxServer, workdir: Path
) -> None:
    client = watcher.client
    agent = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "runner"})
    await wait_state(client, agent["id"], {"idle"})
    line = "printf 'from-the-pane %s\\n' $(pwd); exit 7"
    await client.call("agent.prompt", {"id": agent["id"], "text": f"run: {line}"})
    created = await watcher.wait_for(
        lambda m, p: m == "agent.update" and any(u["kind"] == "terminal" for u in p["updates"])
    )
    term = next(u for u in created["updates"] if u["kind"] == "terminal")["data"]
    assert term["pane_name"] == "runner-term-1" and term["cwd"] == str(workdir)
    # the pane the user can see and attach to holds exactly what the agent was told
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p["id"] == agent["id"])
    text = watcher.text(agent["id"])
    assert f"exit=7 output=from-the-pane {workdir}" in text
    assert "[tool call-1] Run" in text and "-> completed" in text
    # released by the agent: its pane is gone
    panes = private_tmux.run("list-panes", "-a", "-F", "#{pane_id}").split()
    assert term["pane_id"] not in panes


async def test_the_pane_shows_the_terminal_while_it_runs(
    acp_orch: OrchestratorProcess, watcher: Watcher, private_tmux: TmuxServer
) -> None:
    client = watcher.client
    agent = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "slow"})
    await wait_state(client, agent["id"], {"idle"})
    await client.call(
        "agent.prompt", {"id": "slow", "text": "run: echo started-$((6*7)); sleep 1.5; exit 0"}
    )
    created = await watcher.wait_for(
        lambda m, p: m == "agent.update" and any(u["kind"] == "terminal" for u in p["updates"])
    )
    pane_id = next(u for u in created["updates"] if u["kind"] == "terminal")["data"]["pane_id"]
    async with asyncio.timeout(10):
        while "started-42" not in private_tmux.run("capture-pane", "-p", "-t", pane_id):  # noqa: ASYNC110 - tmux's screen: asked, not awaited
            await asyncio.sleep(0.05)
    panes = await client.call("agent.list")
    assert all(p["name"] != "slow-term-1" for p in panes)  # a terminal is not an agent
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p["id"] == agent["id"])
    assert "exit=0 output=started-42" in watcher.text(agent["id"])
