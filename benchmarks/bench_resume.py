"""agent.restart with session/load: an ACP agent comes back with its conversation replayed.

The agent is tests/orchestrator/acp/scripted_agent.py with ``--sessions`` (a scripted ACP
agent, a stand-in for a paid model, that keeps its conversations on disk and offers
``session/load``); its session holds ``TURNS`` turns (``TURNS`` prompts and ``TURNS``
answers) before it is restarted.

- value: ``agent.restart`` through a real orchestrator process, from the call to its
  answer: the agent's process stopped and started again, ``initialize``, ``session/load``
  with the conversation replayed as ``session/update`` (recorded into the transcript and
  forwarded to watchers).
- floor (same run): the ACP SDK's own client (``spawn_agent_process`` in this process)
  spawning the same agent, ``initialize`` and ``session/load`` of the same session,
  receiving the same replay.
- also: ``agent.restart {resume: false}`` (a fresh ``session/new``), for scale.

    .venv/bin/python -m benchmarks resume
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_orchestrator import _env
from benchmarks.common import ROOT, Row, median

TURNS = 100
RUNS = 7


def _agent(sessions: Path) -> list[str]:
    script = ROOT / "tests" / "orchestrator" / "acp" / "scripted_agent.py"
    return [sys.executable, "-I", str(script), "--sessions", str(sessions)]


def _spawn_orchestrator(base: Path, env: dict[str, str], argv: list[str]) -> tuple[Any, Any]:
    from orchestrator import discovery

    config = base / "config" / "none.toml"
    config.write_text(f'[agents.loader]\ncommand = {json.dumps(argv)}\ntransport = "acp"\n')
    env = {**env, "ORCHFLOW_CONFIG": str(config)}
    disc = base / "runtime" / "orchestrator.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--listen", "127.0.0.1:0",
         "--discovery-file", str(disc), "--project-root", str(base)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if not proc.stdout.readline():
        raise RuntimeError("orchestrator did not start")
    return proc, discovery.read(disc)


class _Replayed:
    """The SDK's client for the floor: counts the replayed messages."""

    def __init__(self) -> None:
        self.updates = 0

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates += 1


async def _floor(argv: list[str], session_id: str, cwd: str) -> tuple[float, int]:
    from acp import PROTOCOL_VERSION, spawn_agent_process

    client = _Replayed()
    t0 = time.perf_counter()
    async with spawn_agent_process(client, *argv) as (conn, _proc):  # type: ignore[arg-type]
        await conn.initialize(protocol_version=PROTOCOL_VERSION)
        await conn.load_session(cwd=cwd, session_id=session_id, mcp_servers=[])
        took = time.perf_counter() - t0
    return took, client.updates


async def _measure(info: Any, argv: list[str]) -> list[Row]:
    from orchflow_core.rpc.client import RpcClient

    async with await RpcClient.connect(info.url, info.token) as client:
        made = await client.call("agent.create", {"type": "ai", "agent": "loader"})
        aid = made["id"]
        async with asyncio.timeout(60):
            while True:
                if (await client.call("agent.get", {"id": aid}))["state"] == "idle":
                    break
                await asyncio.sleep(0.05)
        for i in range(TURNS):
            await client.call("agent.prompt", {"id": aid, "text": f"echo: message {i}"})
        async with asyncio.timeout(120):
            while True:
                turns = await client.call("agent.turns", {"id": aid})
                if len(turns) == TURNS and turns[-1]["state"] == "ended":
                    break
                await asyncio.sleep(0.05)
        agent = await client.call("agent.get", {"id": aid})
        session_id, cwd = agent["acp_session_id"], agent["cwd"]
        loaded: list[float] = []
        fresh: list[float] = []
        floor: list[float] = []
        replayed = 0
        for _ in range(RUNS):
            t0 = time.perf_counter()
            got = await client.call("agent.restart", {"id": aid}, timeout=60)
            loaded.append(time.perf_counter() - t0)
            assert got["how"] == "session/load", got
            took, replayed = await _floor(argv, session_id, cwd)
            floor.append(took)
        for _ in range(RUNS):
            t0 = time.perf_counter()
            got = await client.call("agent.restart", {"id": aid, "resume": False}, timeout=60)
            fresh.append(time.perf_counter() - t0)
        await client.call("agent.stop", {"id": aid})
    floor_ms = median(floor) * 1000
    return [
        Row(
            f"agent.restart with session/load, {TURNS} turns ({replayed} updates replayed)",
            median(loaded) * 1000,
            "ms",
            floor_ms,
            "SDK client: spawn + initialize + session/load",
            "",
        ),
        Row(
            "agent.restart {resume: false} (session/new)",
            median(fresh) * 1000,
            "ms",
            floor_ms,
            "SDK client: spawn + initialize + session/load",
            "",
        ),
    ]


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-resume-"))
    sessions = base / "agent-sessions"
    sessions.mkdir()
    tmux_socket = f"orchflow-bench-resume-{os.getpid()}"
    argv = _agent(sessions)
    proc, info = _spawn_orchestrator(base, _env(base, tmux_socket), argv)
    try:
        return asyncio.run(_measure(info, argv))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
