"""Fixtures: a real orchestrator process whose config.toml registers the scripted ACP
agent (tests/orchestrator/acp/scripted_agent.py), with a private tmux server."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess

SCRIPT = Path(__file__).with_name("scripted_agent.py")


def agents_toml(init_timeout_s: float = 60.0) -> str:
    argv = json.dumps([sys.executable, "-I", str(SCRIPT)])
    silent = json.dumps([sys.executable, "-I", str(SCRIPT), "--silent"])
    # a TUI stand-in: echoes each line it reads, as a CLI agent's prompt would
    tui = json.dumps(["sh", "-c", 'while read -r l; do echo "tui got: $l"; done'])
    return (
        f'[agents.scripted]\ncommand = {argv}\ntransport = "acp"\n'
        f"init_timeout_s = {init_timeout_s}\n\n"
        f'[agents.silent]\ncommand = {silent}\ntransport = "acp"\ninit_timeout_s = 1.5\n\n'
        f'[agents.tui]\ncommand = {tui}\ntransport = "terminal"\n'
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    (root / "notes.txt").write_text("inside the project\n")
    return root


@pytest.fixture
async def acp_orch(
    tmp_path: Path, private_tmux: TmuxServer, workdir: Path
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(agents_toml())
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=workdir)
    try:
        yield server
    finally:
        await server.stop()


class Watcher:
    """A connection that called agent.watch and keeps every agent.* notification."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        for method in (
            "agent.state",
            "agent.update",
            "agent.turn",
            "agent.permission",
            "agent.permission_closed",
        ):
            client.on_notification(method, self._keep(method))

    def _keep(self, method: str) -> Callable[[Any], None]:
        def keep(params: Any) -> None:
            self.seen.append((method, params))
            self._changed.set()

        return keep

    async def wait_for(
        self, pred: Callable[[str, dict[str, Any]], bool], *, within: float = 20.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(within):
            start = 0
            while True:
                for method, params in self.seen[start:]:
                    if pred(method, params):
                        return params
                start = len(self.seen)
                self._changed.clear()
                await self._changed.wait()

    def text(self, agent_id: str) -> str:
        return "".join(
            u["text"]
            for m, p in self.seen
            if m == "agent.update" and p["id"] == agent_id
            for u in p["updates"]
        )


@pytest.fixture
async def watcher(acp_orch: OrchestratorProcess) -> AsyncIterator[Watcher]:
    client = await acp_orch.client()
    async with client:
        w = Watcher(client)
        await client.call("agent.watch", {})
        yield w


async def wait_state(
    client: RpcClient, agent_id: str, states: set[str], *, within: float = 20.0
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            agent = await client.call("agent.get", {"id": agent_id})
            if agent["state"] in states:
                return agent  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)
