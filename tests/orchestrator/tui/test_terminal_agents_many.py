"""Many terminal agents at once, one that exits, and an orchestrator restart: through the
real orchestrator process and real tmux."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.tui.conftest import States


async def test_sixteen_agents_each_hook_reaches_its_own_agent(
    client: RpcClient, states: States
) -> None:
    agents = [
        await client.call("agent.create", {"type": "ai", "agent": "light"}) for _ in range(16)
    ]
    for agent in agents:
        await states.next(agent["id"], "idle", "quiet", within=60)
    target = agents[6]
    answer = await client.call(
        "agent.hook",
        {"agent": target["hooks"]["id"], "event": "Ask", "payload": {"message": "merge it?"}},
    )
    assert answer == {
        "id": target["id"],
        "name": target["name"],
        "event": "Ask",
        "mapped": "needs_input",
        "changed": True,
        "state": "needs_input",
    }
    listed = {a["id"]: a for a in await client.call("agent.list")}
    assert listed[target["id"]]["question"] == "merge it?"
    others = [listed[a["id"]] for a in agents if a is not target]
    assert {(a["state"], a["question"]) for a in others} == {("idle", None)}
    unmapped = await client.call(
        "agent.hook", {"agent": agents[0]["hooks"]["id"], "event": "SomethingElse"}
    )
    assert unmapped["mapped"] is None and unmapped["changed"] is False


async def test_a_tui_that_exits_is_exited(
    client: RpcClient, states: States, private_tmux: TmuxServer
) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "claude"})
    await states.next(agent["id"], "idle", "hook")
    pid = int(private_tmux.run("display", "-p", "-t", agent["pane_id"], "#{pane_pid}").strip())
    os.kill(pid, signal.SIGTERM)
    async with asyncio.timeout(20):
        while True:  # a process's end is seen when the pane is next looked at
            got = await client.call("agent.get", {"id": agent["id"]})
            if got["state"] == "exited":
                break
            await asyncio.sleep(0.05)
    assert got["state_source"] == "process" and got["pane_state"] == "exited"
    assert "its process ended" in got["state_reason"]


async def test_a_tui_that_quits_is_exited_without_anyone_asking(
    client: RpcClient, states: States
) -> None:
    """tmux says nothing when a pane's process ends: once the TUI's output stops, the
    orchestrator looks at its pane, so the ``agent.state`` event comes by itself (no
    agent.get or pane listing here to notice it)."""
    agent = await client.call("agent.create", {"type": "ai", "agent": "claude"})
    await states.next(agent["id"], "idle", "hook")
    await client.call("agent.send", {"id": agent["id"], "text": "/exit"})
    ended = await states.next(agent["id"], "exited", "process")
    assert "its process ended (code 0)" in str(ended["reason"])


async def test_a_restarted_orchestrator_follows_its_terminal_agents(
    tmp_path: Path, private_tmux: TmuxServer, tui_orch: OrchestratorProcess, workdir: Path
) -> None:
    async with await tui_orch.client() as c:
        agent = await c.call("agent.create", {"type": "ai", "agent": "claude"})
        key = agent["hooks"]["id"]
    await tui_orch.stop()  # the agent's pane lives on in tmux
    stale = tui_orch.base / "state" / "agents" / "0123456789abcdef"  # an agent gone meanwhile
    stale.mkdir()
    (stale / "claude-settings.json").write_text("{}")
    again = await OrchestratorProcess.start(
        tui_orch.base, private_tmux.socket, project_root=workdir
    )
    try:
        async with await again.client() as c:
            async with asyncio.timeout(20):
                while True:
                    listed = {a["id"]: a for a in await c.call("agent.list")}
                    # listed from its pane row at once; re-attached (stale hook files of
                    # gone agents swept) in the warm-up after
                    if (
                        agent["id"] in listed
                        and listed[agent["id"]].get("hooks")
                        and not (stale.exists())
                    ):
                        break
                    await asyncio.sleep(0.05)
            assert listed[agent["id"]]["hooks"]["id"] == key
            assert not stale.exists() and Path(agent["hooks"]["files"][0]).exists()
            # its hooks still report (same discovery file): the prompt's hooks drive it
            await c.call("agent.prompt", {"id": agent["id"], "text": "hello again"})
            async with asyncio.timeout(20):
                while True:
                    got = await c.call("agent.get", {"id": agent["id"]})
                    if got["last_hook"] and got["last_hook"]["event"] == "Stop":
                        break
                    await asyncio.sleep(0.05)
            assert got["state"] == "idle" and got["state_source"] == "hook"
            assert (
                "done: hello again" in (await c.call("agent.output", {"id": agent["id"]}))["text"]
            )
    finally:
        await again.stop()
