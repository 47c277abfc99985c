"""SPARC modes through a real orchestrator process: mode.* over JSON-RPC, the active mode's
preamble in front of each turn sent to an AI agent (the scripted ACP agent, a stand-in for
a paid model, and a terminal-transport TUI stand-in in a real tmux pane), and the
features row."""

from __future__ import annotations

import asyncio

from tests.orchestrator.acp.conftest import Watcher, wait_state
from tests.orchestrator.server_process import OrchestratorProcess

TDD_START = "Mode: test-driven development. Work in small red-green-refactor steps"


async def test_mode_rpc_and_the_preamble_reaches_each_agent(
    acp_orch: OrchestratorProcess, watcher: Watcher
) -> None:
    client = watcher.client
    features = (await client.call("system.features"))["features"]
    assert features["modes"]["status"] == "implemented" and "tdd" in features["modes"]["shipped"]
    listed = await client.call("mode.list", {})
    assert listed["active"] is None and len(listed["modes"]) == 7
    acp = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "bot"})
    await wait_state(client, acp["id"], {"idle"})
    tui = await client.call("agent.create", {"type": "ai", "agent": "tui", "name": "tui"})

    on = await client.call("mode.activate", {"name": "tdd"})
    assert on["mode"]["name"] == "tdd" and on["unknown_rules"] == []
    assert (await client.call("mode.current", {}))["name"] == "tdd"

    # ACP: the turn's text is the preamble, a blank line, the prompt (the agent echoes it).
    turn = await client.call("agent.prompt", {"id": "bot", "text": "hello"})
    assert turn["mode"] == "tdd" and turn["transport"] == "acp"
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p["turn_id"] == turn["turn_id"])
    turns = await client.call("agent.turns", {"id": "bot"})
    assert turns[-1]["text"].startswith(TDD_START) and turns[-1]["text"].endswith("\n\nhello")
    assert turns[-1]["text"].count(TDD_START) == 1
    assert f"unknown script '{TDD_START}" in watcher.text(acp["id"])

    # Terminal: typed on one line (a newline would submit the TUI's prompt early).
    sent = await client.call("agent.prompt", {"id": "tui", "text": "add a parser"})
    assert sent["mode"] == "tdd" and sent["transport"] == "terminal"
    async with asyncio.timeout(10):
        while True:
            screen = (await client.call("agent.output", {"id": tui["id"]}))["text"]
            joined = "".join(screen.split("\n"))
            if joined.count("add a parser") >= 2:  # the tty's echo, then the TUI's answer
                break
            await asyncio.sleep(0.05)
    assert f"tui got: {TDD_START}" in joined and joined.count("tui got:") == 1
    assert "Say which step you are on. add a parser" in joined

    # Off: prompts go as they are.
    off = await client.call("mode.deactivate", {})
    assert off["deactivated"] is True and off["name"] == "tdd"
    plain = await client.call("agent.prompt", {"id": "bot", "text": "hello"})
    assert plain["mode"] is None
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p["turn_id"] == plain["turn_id"])
    assert (await client.call("agent.turns", {"id": "bot"}))[-1]["text"] == "hello"
