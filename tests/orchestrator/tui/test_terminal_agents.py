"""Terminal-transport AI agents: state from vendor hooks, screen patterns and quiescence,
through the real orchestrator, real tmux and fake CLIs that call their hooks as the
vendors document (tests/orchestrator/tui/fake_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from orchflow_core.rpc.client import RpcClient
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.tui.conftest import States


async def test_claude_hooks_drive_working_needs_input_and_idle(
    client: RpcClient, states: States, tui_orch: OrchestratorProcess
) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "claude"})
    aid = agent["id"]
    assert agent["transport"] == "terminal" and agent["hooks"]["wiring"] == "claude-settings"
    settings = json.loads(Path(agent["hooks"]["files"][0]).read_text())
    assert {"Stop", "PermissionRequest", "Notification", "UserPromptSubmit"} <= set(
        settings["hooks"]
    )
    # SessionStart: the TUI is up
    await states.next(aid, "idle", "hook")

    await client.call("agent.prompt", {"id": aid, "text": "hello"})
    working = await states.next(aid, "working", "hook")
    assert working["reason"] == "hook UserPromptSubmit"
    done = await states.next(aid, "idle", "hook")
    assert done["reason"] == "hook Stop"

    await client.call("agent.prompt", {"id": aid, "text": "ask: rm -rf build"})
    asked = await states.next(aid, "needs_input", "hook")
    assert asked["question"] == "Bash: rm -rf build" and asked["name"] == agent["name"]
    got = await client.call("agent.get", {"id": aid})
    assert got["state"] == "needs_input" and got["state_source"] == "hook"
    assert got["question"] == "Bash: rm -rf build" and got["state_at"] >= asked["at"]
    assert got["pane_state"] == "idle"  # the pane's own state: its process lives

    await client.call("agent.send", {"id": aid, "text": "1"})  # allow
    answered = await states.next(aid, "working", "hook")
    assert answered["reason"] == "hook PostToolUse" and answered["question"] is None
    await states.next(aid, "idle", "hook")
    text = (await client.call("agent.output", {"id": aid}))["text"]
    assert "ran rm -rf build" in text
    sources = {t["source"] for t in (await client.call("agent.get", {"id": aid}))["transitions"]}
    assert sources == {"process", "hook"}  # the hooks said it all: no pattern, no quiet

    await client.call("agent.stop", {"id": aid})
    assert not Path(agent["hooks"]["files"][0]).exists()  # its hook files go with it
    await states.next(aid, "exited", "process")


async def test_codex_notify_says_idle_patterns_say_working(
    client: RpcClient, states: States
) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "codex"})
    aid = agent["id"]
    assert agent["hooks"]["wiring"] == "codex-notify" and agent["hooks"]["files"] == []
    assert "-c 'notify=[" in agent["command"]
    await states.next(aid, "idle", "quiet")  # no start hook: it settled
    await client.call("agent.prompt", {"id": aid, "text": "hello"})
    working = await states.next(aid, "working", "pattern")
    assert "interrupt" in working["reason"]
    done = await states.next(aid, "idle", "hook")
    assert done["reason"] == "hook notify:agent-turn-complete"


async def test_gemini_notification_carries_the_question(client: RpcClient, states: States) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "gemini"})
    aid = agent["id"]
    defaults = json.loads(Path(agent["hooks"]["files"][0]).read_text())
    assert {"AfterAgent", "Notification", "BeforeAgent"} <= set(defaults["hooks"])
    await states.next(aid, "idle", "hook")
    await client.call("agent.prompt", {"id": aid, "text": "ask: make test"})
    await states.next(aid, "working", "hook")
    asked = await states.next(aid, "needs_input", "hook")
    assert asked["question"] == "Allow execution of: make test?"
    await client.call("agent.send", {"id": aid, "text": "1"})
    await states.next(aid, "working", "hook")
    done = await states.next(aid, "idle", "hook")
    assert done["reason"] == "hook AfterAgent"


async def test_output_no_pattern_matches_falls_back_to_quiescence(
    client: RpcClient, states: States
) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "plain"})
    aid = agent["id"]
    assert agent["hooks"]["wiring"] == "none"
    await states.next(aid, "idle", "quiet")
    await client.call("agent.prompt", {"id": aid, "text": "drift"})
    working = await states.next(aid, "working", "quiet")
    assert working["reason"] == "output without a pattern"
    idle = await states.next(aid, "idle", "quiet")
    assert idle["reason"] == "no output for 0.6s (quiescence)"
    got = await client.call("agent.get", {"id": aid})
    assert got["state"] == "idle" and got["state_source"] == "quiet"
    assert "quiescence" in got["state_reason"]
    assert not [t for t in got["transitions"] if t["source"] == "pattern"]
    listed = {a["id"]: a for a in await client.call("agent.list")}
    assert listed[aid]["state"] == "idle" and listed[aid]["state_source"] == "quiet"


async def test_screen_patterns_say_needs_input_and_idle(client: RpcClient, states: States) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "plain"})
    aid = agent["id"]
    await states.next(aid, "idle", "quiet")
    await client.call("agent.prompt", {"id": aid, "text": "confirm"})
    asked = await states.next(aid, "needs_input", "pattern")
    assert asked["question"] == "Proceed? [y/n]"
    assert asked["reason"] == r"pattern /^Proceed\? \[y/n\]$/"
    await client.call("agent.send", {"id": aid, "text": "y"})
    idle = await states.next(aid, "idle", "pattern")
    assert idle["reason"] == "pattern /^plain is idle$/" and idle["question"] is None
