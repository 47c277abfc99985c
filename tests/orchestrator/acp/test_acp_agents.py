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
    assert got["usage"]["turns"]["totalTokens"] == 1500
    assert [t["source"] for t in got["transitions"]] == ["process", "acp", "acp", "acp"]
    turns = await client.call("agent.turns", {"id": "bot"})
    assert [(t["turn_id"], t["stop_reason"], t["state"]) for t in turns] == [
        ("t1", "end_turn", "ended")
    ]
    assert turns[0]["usage"] == {"totalTokens": 1500, "inputTokens": 1000, "outputTokens": 500}
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


async def test_a_killed_terminal_keeps_its_output_and_says_how_it_ended(
    acp_orch: OrchestratorProcess, watcher: Watcher, private_tmux: TmuxServer
) -> None:
    client = watcher.client
    agent = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "k"})
    await wait_state(client, agent["id"], {"idle"})
    await client.call(
        "agent.prompt", {"id": "k", "text": "kill: echo 0123456789abcdefXYZ; sleep 30"}
    )
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p["id"] == agent["id"])
    text = watcher.text(agent["id"])
    # outputByteLimit 12: the end of the text, cut at the start
    assert "killed signal=SIGHUP code=None truncated=True output=" in text
    shown = text.split("output=", 1)[1].split("\n", 1)[0]
    assert len(shown.encode()) <= 12 and "0123456789abcdefXYZ".endswith(shown[-3:])
    assert "sleep" not in private_tmux.run("list-panes", "-a", "-F", "#{pane_current_command}")
    got = await client.call("agent.get", {"id": "k"})
    assert got["terminals"][0]["signal"] == "SIGHUP" and got["terminals"][0]["released"]


async def test_a_terminal_transport_agent_is_its_tui_in_a_pane(
    acp_orch: OrchestratorProcess, private_tmux: TmuxServer
) -> None:
    async with await acp_orch.client() as client:
        agent = await client.call(
            "agent.create", {"type": "ai", "agent": "tui", "prompt": "first line"}
        )
        assert agent["type"] == "ai" and agent["transport"] == "terminal"
        assert agent["agent"] == "tui" and agent["name"] == "tui-1"
        sent = await client.call("agent.prompt", {"id": "tui-1", "text": "second line"})
        assert sent == {"id": agent["id"], "turn_id": None, "transport": "terminal", "mode": None}
        async with asyncio.timeout(10):
            while True:  # the pane's screen: asked, nothing to await
                text = (await client.call("agent.output", {"id": "tui-1"}))["text"]
                if "tui got: second line" in text:
                    break
                await asyncio.sleep(0.05)
        assert "tui got: first line" in text and "tui got: second line" in text
        listed = {a["name"]: a for a in await client.call("agent.list")}
        assert listed["tui-1"]["type"] == "ai" and listed["tui-1"]["pane_state"] == "idle"
        # its AI state (no hooks, no patterns for this TUI): output, then quiescence
        assert listed["tui-1"]["state"] in {"starting", "working", "idle"}
