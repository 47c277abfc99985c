"""Fixtures: a real orchestrator process whose config.toml points claude, codex and gemini
at the fake CLIs (fake_cli.py, which call their hooks as the vendors document), plus a
hookless TUI with patterns that never match, and a private tmux server."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import Watcher
from tests.orchestrator.server_process import OrchestratorProcess

FAKE = Path(__file__).with_name("fake_cli.py")
QUIET_S = 0.6


def fake(kind: str) -> str:
    return json.dumps([sys.executable, "-I", str(FAKE), kind])


def agents_toml() -> str:
    return (
        f'[agents.claude]\ncommand = {fake("claude")}\ntransport = "terminal"\n'
        f"quiet_s = {QUIET_S}\n\n"
        f'[agents.codex]\ncommand = {fake("codex")}\ntransport = "terminal"\n'
        f"quiet_s = {QUIET_S}\n\n"
        f'[agents.gemini]\ncommand = {fake("gemini")}\ntransport = "terminal"\n'
        f"quiet_s = {QUIET_S}\n\n"
        f'[agents.plain]\ncommand = {fake("plain")}\ntransport = "terminal"\n'
        f"quiet_s = {QUIET_S}\n"
        '[agents.plain.patterns]\nneeds_input = ["^Proceed\\\\? \\\\[y/n\\\\]$"]\n'
        'idle = ["^plain is idle$"]\n\n'
        '[agents.light]\ncommand = ["sh", "-c", "echo ready; exec cat"]\ntransport = "terminal"\n'
        f"quiet_s = {QUIET_S}\n"
        '[agents.light.hooks]\nevents = { Ask = "needs_input", Done = "idle" }\n'
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


@pytest.fixture
async def tui_orch(
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


@pytest.fixture
async def client(tui_orch: OrchestratorProcess) -> AsyncIterator[RpcClient]:
    async with await tui_orch.client() as c:
        yield c


class States:
    """agent.state notifications in order; ``next`` waits for the agent's first matching
    one after the last one it returned for that agent (so the same idle is never taken
    twice, and agents' notifications may interleave in any order)."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.pos: dict[str, int] = {}

    async def next(
        self, agent_id: str, state: str, source: str | None = None, *, within: float = 20.0
    ) -> dict[str, Any]:
        def pred(method: str, p: dict[str, Any]) -> bool:
            return (
                method == "agent.state"
                and p["id"] == agent_id
                and p["state"] == state
                and (source is None or p["source"] == source)
            )

        async with asyncio.timeout(within):
            while True:
                seen = self.watcher.seen
                for i in range(self.pos.get(agent_id, 0), len(seen)):
                    if pred(*seen[i]):
                        self.pos[agent_id] = i + 1
                        return seen[i][1]
                self.watcher._changed.clear()
                await self.watcher._changed.wait()


@pytest.fixture
async def states(client: RpcClient) -> States:
    w = Watcher(client)
    await client.call("agent.watch", {})
    return States(w)
