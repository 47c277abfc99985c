"""The user's MCP servers reach ACP agents at ``session/new``: a real orchestrator process
with [mcp.servers.*] in config.toml starts the scripted ACP agent, which reports the
``mcpServers`` it received (stdio ones always, HTTP ones only when it advertised
``mcpCapabilities.http``; disabled or misconfigured ones never)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import SCRIPT, Watcher, agents_toml, wait_state
from tests.orchestrator.server_process import OrchestratorProcess, server_env

pytestmark = pytest.mark.timeout(90)

SECRET = "acp-token-0815"


@pytest.fixture
async def mcp_orch(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    stdio_only = json.dumps([sys.executable, "-I", str(SCRIPT), "--no-mcp-http"])
    config.write_text(
        agents_toml()
        + f'\n[agents.stdio-only]\ncommand = {stdio_only}\ntransport = "acp"\n\n'
        + '[mcp.servers.files]\ncommand = "python3"\nargs = ["-m", "files_mcp"]\n'
        + 'env = { FILES_TOKEN = "${FILES_TOKEN}" }\n\n'
        + '[mcp.servers.docs]\nurl = "http://127.0.0.1:9/mcp"\n'
        + 'headers = { Authorization = "Bearer ${FILES_TOKEN}" }\n\n'
        + '[mcp.servers.off]\ncommand = "python3"\nenabled = false\n\n'
        + '[mcp.servers.broken]\ncommand = "python3"\nurl = "http://x"\n'
    )
    env = server_env(base, private_tmux.socket, FILES_TOKEN=SECRET)
    server = await OrchestratorProcess.start(
        base, private_tmux.socket, project_root=workdir, env=env
    )
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def mcp_watcher(mcp_orch: OrchestratorProcess) -> AsyncIterator[Watcher]:
    client = await mcp_orch.client()
    async with client:
        w = Watcher(client)
        await client.call("agent.watch", {})
        yield w


async def received(watcher: Watcher, agent: str) -> tuple[dict[str, object], list[object]]:
    client = watcher.client
    created = await client.call("agent.create", {"type": "ai", "agent": agent, "name": agent})
    view = await wait_state(client, created["id"], {"idle"})
    await client.call("agent.prompt", {"id": agent, "text": "mcp"})
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p.get("stop_reason") == "end_turn")
    text = watcher.text(created["id"])
    said = [line for line in text.splitlines() if line.startswith("[")]
    assert said, text
    return view, json.loads(said[-1])


async def test_stdio_and_http_servers_are_passed_to_an_agent_that_takes_both(
    mcp_watcher: Watcher,
) -> None:
    view, servers = await received(mcp_watcher, "scripted")
    assert servers == [
        {
            "_meta": None,
            "headers": [{"_meta": None, "name": "Authorization", "value": f"Bearer {SECRET}"}],
            "name": "docs",
            "type": "http",
            "url": "http://127.0.0.1:9/mcp",
        },
        {
            "_meta": None,
            "args": ["-m", "files_mcp"],
            "command": shutil.which("python3"),
            "env": [{"_meta": None, "name": "FILES_TOKEN", "value": SECRET}],
            "name": "files",
        },
    ]
    assert view["mcp_servers"] == ["docs", "files"] and view["mcp_skipped"] == []


async def test_an_agent_without_http_support_gets_the_stdio_ones_only(
    mcp_watcher: Watcher, mcp_orch: OrchestratorProcess
) -> None:
    view, servers = await received(mcp_watcher, "stdio-only")
    assert [s["name"] for s in servers] == ["files"]  # type: ignore[index]
    assert view["mcp_skipped"] == ["docs: the agent does not take MCP servers over HTTP"]
    assert SECRET not in mcp_orch.log_file.read_text()
