"""Prompt tasks of a swarm go to an ACP agent of the registry (the scripted agent: the
real wire format, no paid model); an agent whose CLI is missing says "unavailable"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import InvalidArgumentError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import agents_toml
from tests.orchestrator.server_process import OrchestratorProcess


@pytest.fixture
async def orch_with_agents(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    missing = '[agents.missing]\ncommand = ["/nonexistent/agent-cli"]\ntransport = "acp"\n'
    config.write_text(agents_toml() + "\n" + missing)
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        yield server
    finally:
        await server.stop()


async def test_prompt_tasks_run_on_registry_agents(orch_with_agents: OrchestratorProcess) -> None:
    async with await orch_with_agents.client() as client:
        submitted = await client.call(
            "swarm.submit",
            {
                "tasks": [
                    {"id": "greet", "prompt": "hello", "agent": "scripted", "agent_type": "ai"},
                    {"id": "tool", "prompt": "run: echo from-a-swarm-agent", "agent": "scripted"},
                    {"id": "gone", "prompt": "hello", "agent": "missing"},
                    {"id": "then", "command": "echo after-agents", "deps": ["greet", "tool"]},
                ]
            },
        )
        async with asyncio.timeout(60):
            while True:
                status: dict[str, Any] = await client.call(
                    "swarm.status", {"swarm_id": submitted["swarm_id"]}
                )
                if status["state"] != "running":
                    break
                await asyncio.sleep(0.1)
        tasks = {t["id"]: t for t in status["tasks"]}
        assert tasks["greet"]["state"] == "succeeded" and tasks["greet"]["exit_code"] == 0
        assert "Hello there." in tasks["greet"]["output_tail"]
        assert tasks["tool"]["state"] == "succeeded"
        transcript = Path(tasks["tool"]["output_path"]).read_text()
        assert "exit=0 output=from-a-swarm-agent" in transcript
        assert "-- turn t1 ended: end_turn" in tasks["tool"]["output_tail"]
        assert tasks["gone"]["state"] == "failed"
        assert tasks["gone"]["reason"].startswith("unavailable: agent 'missing'")
        assert "/nonexistent/agent-cli" in tasks["gone"]["reason"]
        assert tasks["then"]["state"] == "succeeded"
        assert status["state"] == "failed"
        agents = await client.call("agent.list")
        assert [a for a in agents if a.get("transport") == "acp"] == []  # stopped, forgotten
        with pytest.raises(InvalidArgumentError, match="unknown agent 'nobody'"):
            await client.call(
                "swarm.submit", {"tasks": [{"id": "x", "prompt": "hi", "agent": "nobody"}]}
            )
