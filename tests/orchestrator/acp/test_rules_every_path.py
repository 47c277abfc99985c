"""One block rule, every path a command can take into a terminal (issue 12, item 6): pane.run
over JSON-RPC, a prompt typed into a terminal AI agent, an ACP agent's terminal/create, a
swarm task, a scheduled job and the MCP pane_run tool. Each is refused with the rule's
message and nothing reaches a shell. A real orchestrator process, real tmux, the scripted
ACP agent (a stand-in for a paid model, tests/orchestrator/acp/scripted_agent.py) and the
official MCP SDK's client over stdio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchflow_core.errors import PermissionDeniedError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import Watcher, wait_state
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.test_mcp_stdio import stdio_client

MESSAGE = "forbidden here: ask a human"
COMMAND = "forbidden-cmd --now"


async def test_a_block_rule_refuses_the_command_on_every_path(
    acp_orch: OrchestratorProcess, watcher: Watcher, private_tmux: TmuxServer, workdir: Path
) -> None:
    client = watcher.client
    await client.call(
        "protocol.add", {"pattern": "forbidden-cmd*", "action": "block", "message": MESSAGE}
    )

    # pane.run over JSON-RPC (origin user)
    pane = await client.call("pane.new", {"type": "shell", "name": "plain"})
    with pytest.raises(PermissionDeniedError, match=MESSAGE):
        await client.call("pane.run", {"pane": pane["id"], "cmd": COMMAND})

    # a prompt typed into a terminal AI agent (origin agent)
    tui = await client.call(
        "agent.create", {"type": "ai", "agent": "tui", "transport": "terminal", "name": "tui"}
    )
    with pytest.raises(PermissionDeniedError, match=MESSAGE):
        await client.call("agent.prompt", {"id": tui["id"], "text": COMMAND})

    # an ACP agent's terminal/create: the agent gets the refusal, no pane runs it
    bot = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "bot"})
    await wait_state(client, bot["id"], {"idle"})
    await client.call("agent.prompt", {"id": bot["id"], "text": f"run: {COMMAND}"})
    ended = await watcher.wait_for(lambda m, p: m == "agent.turn" and p["id"] == bot["id"])
    turns = await client.call("agent.turns", {"id": bot["id"]})
    shown = watcher.text(bot["id"]) + repr(ended) + repr(turns)
    assert MESSAGE in shown, shown

    # a swarm task (origin swarm)
    submitted = await client.call(
        "swarm.submit",
        {"tasks": [{"id": "bad", "command": COMMAND}, {"id": "ok", "command": "true"}]},
    )
    ref = {"swarm_id": submitted["swarm_id"]}
    async with asyncio.timeout(60):
        while (status := await client.call("swarm.status", ref))["state"] == "running":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    tasks = {t["id"]: t for t in status["tasks"]}
    assert tasks["bad"]["state"] == "failed" and MESSAGE in tasks["bad"]["reason"]
    assert tasks["ok"]["state"] == "succeeded"

    # a scheduled job (origin schedule)
    await client.call(
        "schedule.add", {"name": "nightly", "cron": "0 3 * * *", "job": {"command": COMMAND}}
    )
    with pytest.raises(PermissionDeniedError, match=MESSAGE):
        await client.call("schedule.run_now", {"name": "nightly"})
    firings = await client.call("schedule.history", {"name": "nightly"})
    assert all(f["state"] != "finished" for f in firings), firings

    # the MCP pane_run tool (origin mcp)
    async with stdio_client(acp_orch, workdir) as mcp:
        refused = await mcp.call_tool("pane_run", {"pane": "plain", "command": COMMAND})
        assert refused.is_error and MESSAGE in refused.content[0].text

    # nothing of it reached a shell
    for line in private_tmux.run("list-panes", "-a", "-F", "#{pane_id}").split():
        screen = private_tmux.run("capture-pane", "-p", "-S", "-200", "-t", line)
        assert "forbidden-cmd: command not found" not in screen, screen
