"""agent.restart of terminal AI agents: the TUI runs again in its own tmux pane with the
registry's resume flags and the session id the vendor's hooks gave, else its continue
flags, else fresh. Real orchestrator process, real tmux, the fake vendor CLIs (stand-ins
for paid-model CLIs: fake_cli.py)."""

from __future__ import annotations

import asyncio
import shlex
import sys

import pytest

from orchflow_core.errors import ConflictError
from orchflow_core.rpc.client import RpcClient
from tests.orchestrator.tui.conftest import FAKE, States


async def _screen(client: RpcClient, agent_id: str, text: str) -> str:
    """The pane's text once it shows ``text``."""
    async with asyncio.timeout(20):
        while True:
            out = str((await client.call("agent.output", {"id": agent_id}))["text"])
            if text in out:
                return out
            await asyncio.sleep(0.05)


async def test_claude_restarts_in_its_pane_with_resume_and_its_session_id(
    client: RpcClient, states: States
) -> None:
    made = await client.call("agent.create", {"type": "ai", "agent": "claude", "name": "cc"})
    aid = made["id"]
    await states.next(aid, "idle", "hook")  # SessionStart: its payload has session_id
    hooked = await client.call("agent.get", {"id": aid})
    assert hooked["last_hook"]["event"] == "SessionStart"
    screen = await _screen(client, aid, "claude (fake) ready")
    assert "resuming session" not in screen

    got = await client.call("agent.restart", {"id": "cc"})
    assert got["id"] == aid and got["name"] == "cc" and got["resumed"] is True
    base = [sys.executable, "-I", str(FAKE), "claude", "--resume"]
    assert got["how"].startswith("flags: " + shlex.join(base) + " ")
    session_id = got["how"].rsplit(" ", 1)[1]
    assert len(session_id) == 32  # the fake's uuid, from the SessionStart payload

    await _screen(client, aid, f"resuming session {session_id}")
    back = await states.next(aid, "idle", "hook")  # its hooks report to the same agent
    assert back["name"] == "cc"
    after = await client.call("agent.get", {"id": aid})
    assert after["pane_id"] == made["pane_id"] and after["pane_state"] == "idle"
    assert any(t["reason"] == f"restarted ({got['how']})" for t in after["transitions"])


async def test_codex_without_a_session_id_continues_the_last(
    client: RpcClient, states: States
) -> None:
    made = await client.call("agent.create", {"type": "ai", "agent": "codex", "name": "cx"})
    await _screen(client, made["id"], "codex (fake) ready")
    got = await client.call("agent.restart", {"id": made["id"]})
    argv = [sys.executable, "-I", str(FAKE), "codex", "resume", "--last"]
    assert got["how"] == f"flags: {shlex.join(argv)} (no session id from its hooks)"
    assert got["resumed"] is True
    await _screen(client, made["id"], "continuing the last session")


async def test_an_exited_tui_without_resume_flags_starts_fresh(
    client: RpcClient, states: States
) -> None:
    made = await client.call("agent.create", {"type": "ai", "agent": "light", "name": "lt"})
    aid = made["id"]
    await _screen(client, aid, "ready")
    await client.call("agent.send", {"id": aid, "text": "\x04", "enter": False})  # EOF: cat ends
    async with asyncio.timeout(20):  # agent.get looks at tmux: the pane died
        while True:
            if (await client.call("agent.get", {"id": aid}))["state"] == "exited":
                break
            await asyncio.sleep(0.05)
    got = await client.call("agent.restart", {"id": aid, "resume": True})
    assert got == {
        "id": aid,
        "name": "lt",
        "resumed": False,
        "how": "fresh: light has no resume or continue flags in the registry",
    }
    await states.next(aid, "starting", "process")
    await states.next(aid, "idle", "quiet")  # it printed "ready" again, then nothing
    view = await client.call("agent.get", {"id": aid})
    assert view["pane_state"] == "idle" and view["pane_id"] == made["pane_id"]
    await client.call("agent.send", {"id": aid, "text": "again"})
    await _screen(client, aid, "again\nagain")  # cat runs again: the tty echo, then cat


async def test_a_stopped_terminal_agent_cannot_be_restarted(client: RpcClient) -> None:
    made = await client.call("agent.create", {"type": "ai", "agent": "light", "name": "gone"})
    await client.call("agent.stop", {"id": made["id"]})
    with pytest.raises(ConflictError, match="terminal agent gone's pane is gone"):
        await client.call("agent.restart", {"id": made["id"]})
