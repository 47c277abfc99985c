"""Real TUI screens replayed into real tmux panes: the state orchflow derives from them with
the shipped registry patterns.

Each fixture in real_screens/ is the byte stream a real CLI wrote to its pane (tmux
pipe-pane), captured with a throwaway HOME and no credentials on 2026-11-30 (README.md there
says how, per file). The replay is the fixture cat into a pane of a terminal agent whose
patterns are the shipped entry's (read from registry.toml now, not copied), through a real
orchestrator and its real output pump. The CLIs themselves cannot run here to the screens
that need a login or a model; doc/agents.md "Checked against" says which versions these are.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents import registry
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import Watcher
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.tui.conftest import States

SCREENS = Path(__file__).with_name("real_screens")
QUIET_S = 0.6

# fixture -> (the vendor entry whose patterns apply, state, source, words in the question)
CASES: dict[str, tuple[str, str, str, str | None]] = {
    "claude-2.1.197-trust-folder": ("claude", "needs_input", "pattern", "I trust this folder"),
    "claude-2.1.197-api-key": ("claude", "needs_input", "pattern", "use this API key?"),
    "claude-2.1.197-not-logged-in": ("claude", "needs_input", "pattern", "Not logged in"),
    "claude-2.1.197-login-menu": ("claude", "needs_input", "pattern", "Select login method:"),
    "claude-2.1.197-working": ("claude", "working", "pattern", None),
    "codex-0.171.0-sign-in": ("codex", "needs_input", "pattern", "how you want to use Codex"),
    "codex-0.171.0-api-key-then-prompt": ("codex", "idle", "pattern", None),
    "codex-0.171.0-working": ("codex", "working", "pattern", None),
    "gemini-0.61.0-trust-folder": ("gemini", "needs_input", "pattern", "Do you trust the files"),
    "gemini-0.61.0-sign-in": ("gemini", "needs_input", "pattern", "How would you like to auth"),
    "gemini-0.61.0-working": ("gemini", "working", "pattern", None),
    "opencode-1.18.33-start": ("opencode", "idle", "quiet", None),
    "opencode-1.18.33-working": ("opencode", "working", "pattern", None),
}


def replay_argv(screen: Path, *, then: str = "exec sleep 600") -> list[str]:
    """cat the stream into the pane; echo off, so the terminal's answers to the TUI's
    queries (device attributes, colours) are not output of their own."""
    return ["sh", "-c", f"stty -echo; cat {shlex.quote(str(screen))}; {then}"]


def agent_name(screen: str) -> str:
    return screen.replace(".", "_")  # agent names take a-z, 0-9, - and _


def entry(name: str, vendor: str, argv: list[str]) -> str:
    patterns = registry.builtin()[vendor].get("patterns", {})
    lines = [
        f"[agents.{name}]",
        f"command = {json.dumps(argv)}",
        'transport = "terminal"',
        f"quiet_s = {QUIET_S}",
        f"[agents.{name}.patterns]",
    ]
    lines += [f"{state} = {json.dumps(list(ps))}" for state, ps in patterns.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
async def replay_orch(
    tmp_path: Path, private_tmux: TmuxServer
) -> AsyncIterator[OrchestratorProcess]:
    work = tmp_path / "work"
    work.mkdir()
    text = [
        entry(agent_name(screen), case[0], replay_argv(SCREENS / f"{screen}.raw"))
        for screen, case in CASES.items()
    ]
    first_run = SCREENS / "claude-2.1.197-offline-first-run.raw"
    text.append(entry("claude-offline", "claude", replay_argv(first_run, then="exit 1")))
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("\n".join(text))
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=work)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def watched(replay_orch: OrchestratorProcess) -> AsyncIterator[tuple[RpcClient, States]]:
    async with await replay_orch.client() as client:
        watcher = Watcher(client)
        await client.call("agent.watch", {})
        yield client, States(watcher)


@pytest.mark.parametrize("screen", sorted(CASES))
async def test_a_real_screen_gives_the_state_a_user_expects(
    watched: tuple[RpcClient, States], screen: str
) -> None:
    client, states = watched
    _, state, source, question = CASES[screen]
    made: dict[str, Any] = await client.call(
        "agent.create", {"type": "ai", "agent": agent_name(screen)}
    )
    seen = await states.next(made["id"], state, source)
    while question is not None and question not in seen["question"]:
        # a stream may show an earlier dialog first (the trust answer redrawn with a tick)
        seen = await states.next(made["id"], state, source)
    if question is not None:
        got = await client.call("agent.get", {"id": made["id"]})
        assert got["state"] == "needs_input" and question in got["question"]
        listed = {a["id"]: a for a in await client.call("agent.list")}
        assert listed[made["id"]]["state"] == "needs_input"
    await client.call("agent.stop", {"id": made["id"]})


async def test_claude_first_run_offline_exits_and_says_so(
    watched: tuple[RpcClient, States],
) -> None:
    """Claude Code 2.1.197's first run with no network prints "Unable to connect to
    Anthropic services" and exits 1: the agent list shows it exited, with the code. (The
    core notices a dead pane when panes are listed, not at once: see doc/agents.md.)"""
    client, states = watched
    made = await client.call("agent.create", {"type": "ai", "agent": "claude-offline"})
    await states.next(made["id"], "idle", "quiet")  # the screen was drawn, then silence
    text = (await client.call("agent.output", {"id": made["id"]}))["text"]
    assert "Unable to connect to Anthropic services" in text
    async with asyncio.timeout(20):
        while True:
            listed = {a["id"]: a for a in await client.call("agent.list")}
            if listed[made["id"]]["state"] == "exited":
                break
            await asyncio.sleep(0.1)  # the pane's process ends just after its last output
    assert listed[made["id"]]["state_reason"] == "its process ended (code 1)"
    assert listed[made["id"]]["state_source"] == "process"
