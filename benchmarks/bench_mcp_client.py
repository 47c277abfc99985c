"""orchflow as an MCP client: a tool of the user's MCP server called through the orchestrator.

Figure, with its floor from the same run against the same MCP server script:
- ``mcp.call`` of ``echo`` on a stdio MCP server written with the official SDK
  (tests/orchestrator/mcp_servers/notes_server.py), from a JSON-RPC client (RpcClient) through
  the orchestrator (its breaker, its cached tool list, the SDK's ``Client``), against the SDK's
  ``Client`` calling the same tool of its own copy of the server directly over stdio: the
  price of going through orchflow is one more JSON-RPC hop and its bookkeeping.

    .venv/bin/python -m benchmarks mcp_client
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

from benchmarks.bench_orchestrator import _env, _spawn_orchestrator, _stop
from benchmarks.common import ROOT, Row, median, p95

NOTES = ROOT / "tests" / "orchestrator" / "mcp_servers" / "notes_server.py"
BLOCKS = 10  # blocks of calls, alternating direct and through orchflow (same load for both)
CALLS = 30
WARMUP = 30
ARGS = {"text": "hello"}


async def _measure(base: Path, env: dict[str, str]) -> list[Row]:
    from mcp import Client, StdioServerParameters

    from orchestrator import discovery
    from orchflow_core.rpc.client import RpcClient

    config = Path(env["ORCHFLOW_CONFIG"])
    argv = json.dumps(["-I", str(NOTES)])
    config.write_text(
        f"[mcp.servers.notes]\ncommand = {json.dumps(sys.executable)}\nargs = {argv}\n"
    )
    proc, _ = _spawn_orchestrator(base, env)
    try:
        info = discovery.read(base / "runtime" / "orchestrator.json")
        async with AsyncExitStack() as stack:
            rpc = await stack.enter_async_context(await RpcClient.connect(info.url, info.token))
            params = StdioServerParameters(command=sys.executable, args=["-I", str(NOTES)])
            direct = await stack.enter_async_context(Client(params))

            async def via_orchflow() -> None:
                out = await rpc.call(
                    "mcp.call", {"server": "notes", "tool": "echo", "arguments": ARGS}
                )
                assert out["isError"] is False, out

            async def straight() -> None:
                out = await direct.call_tool("echo", ARGS)
                assert not out.is_error, out

            async def timed(call: Callable[[], Awaitable[None]], n: int) -> list[float]:
                samples = []
                for _ in range(n):
                    t = time.perf_counter()
                    await call()
                    samples.append(time.perf_counter() - t)
                return samples

            await timed(via_orchflow, WARMUP)  # starts the server, lists its tools
            await timed(straight, WARMUP)
            ours: list[float] = []
            floor: list[float] = []
            for _ in range(BLOCKS):
                ours += await timed(via_orchflow, CALLS)
                floor += await timed(straight, CALLS)
    finally:
        _stop(proc)
    ms = 1e3
    what = "echo on the same SDK stdio server, the SDK's Client directly, interleaved"
    return [
        Row("mcp client: mcp.call over JSON-RPC (median)", median(ours) * ms, "ms",
            median(floor) * ms, what),
        Row("mcp client: mcp.call over JSON-RPC (p95)", p95(ours) * ms, "ms",
            p95(floor) * ms, what),
    ]  # fmt: skip


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-mcpc-"))
    tmux_socket = f"orchflow-bench-mcpc-{os.getpid()}"
    env = _env(base, tmux_socket)
    try:
        return asyncio.run(_measure(base, env))
    finally:
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    from benchmarks.common import print_table

    t0 = time.perf_counter()
    print_table(run())
    print(f"# {time.perf_counter() - t0:.1f} s", file=sys.stderr)
