"""orchflow's MCP server against the JSON-RPC API it wraps.

Figures, each with its floor from the same run against the same orchestrator process:
- ``pane_list`` over stdio MCP (the official SDK's Client driving ``orchflow-orchestrator
  mcp`` as a subprocess, which calls the orchestrator over its WebSocket), against
  ``pane.list`` over orchflow's JSON-RPC (RpcClient): the MCP hop costs one more process and
  the SDK's framing and validation; target <= 2x.
- ``pane_list`` over Streamable HTTP (``POST /mcp`` on the orchestrator's listener) with
  16 concurrent SDK clients, against ``pane.list`` over JSON-RPC with 16 concurrent
  RpcClients: calls per second; target >= 0.5x. Both client sides run in this process, so
  the SDK client's own CPU (several ms per call) competes with the server on a small
  machine; a second row drives the same tools/call bytes over 16 keep-alive connections
  with a client as light as the floor's (asyncio streams), which is the server's capacity.

    .venv/bin/python -m benchmarks mcp
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from benchmarks.bench_orchestrator import _env, _spawn_orchestrator, _stop
from benchmarks.common import ROOT, Row, median, p95

BLOCKS = 10  # latency: blocks of calls, alternating JSON-RPC and MCP (a loaded machine
CALLS = 30  # drifts; alternating puts both under the same load)
WARMUP = 30
CLIENTS = 16
ROUNDS = 3  # throughput: windows of WINDOW_S, alternating the three client kinds
WINDOW_S = 1.0
PANES = 3


Call = Callable[[], Awaitable[Any]]


async def _timed(call: Call, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - t)
    return samples


async def _window(calls: list[Call], seconds: float) -> tuple[int, float]:
    """Every ``call`` in a loop of its own for ``seconds``: (calls done, seconds taken)."""
    count = 0
    stop = time.perf_counter() + seconds

    async def loop(call: Call) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await call()
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in calls))
    return count, time.perf_counter() - start


def _tool_call_request(name: str, arguments: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A 2026-07-28 tools/call as the SDK's client sends it (body and routing headers)."""
    import orjson

    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
            },
        },
    }
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
    }
    return orjson.dumps(body), headers


async def _minimal_http_call(port: int, token: str) -> Call:
    """One keep-alive connection POSTing the exact tools/call the SDK sends, written and read
    with asyncio streams: a client as light as the floor's RpcClient (httpx2 alone costs
    ~1.2 ms of CPU per request here), so the row measures the server."""
    body, headers = _tool_call_request("pane_list", {})
    headers.update(Authorization=f"Bearer {token}", Host=f"127.0.0.1:{port}")
    headers["Content-Length"] = str(len(body))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST /mcp HTTP/1.1\r\n{head}\r\n".encode() + body
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def call() -> None:
        writer.write(request)
        response_head = await reader.readuntil(b"\r\n\r\n")
        assert response_head.startswith(b"HTTP/1.1 200 "), response_head
        length = next(
            int(line.split(b":", 1)[1])
            for line in response_head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        reply = await reader.readexactly(length)
        assert b'"isError":false' in reply, reply

    return call


def _sdk_call(client: Any) -> Call:
    async def call() -> None:
        result = await client.call_tool("pane_list", {})
        assert not result.is_error, result.content

    return call


def _rpc_call(client: Any) -> Call:
    async def call() -> None:
        await client.call("pane.list", {})

    return call


async def _measure(base: Path, env: dict[str, str]) -> list[Row]:
    import httpx2
    from mcp import Client, StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client

    from orchestrator import discovery
    from orchflow_core.rpc.client import RpcClient

    proc, _ = _spawn_orchestrator(base, env)
    discovery_file = base / "runtime" / "orchestrator.json"
    try:
        info = discovery.read(discovery_file)
        url, token = info.url, info.token
        port = int(url.rsplit(":", 1)[1].strip("/"))
        async with AsyncExitStack() as stack:
            rpcs = [
                await stack.enter_async_context(await RpcClient.connect(url, token))
                for _ in range(CLIENTS)
            ]
            for i in range(PANES):
                await rpcs[0].call("pane.new", {"name": f"bench-mcp-{i}"})
            stdio_params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "orchestrator", "mcp", "--discovery-file", str(discovery_file)],
                env=env,
                cwd=str(ROOT),
            )
            stdio = await stack.enter_async_context(Client(stdio_params))
            sdk_http = []
            for _ in range(CLIENTS):
                http = await stack.enter_async_context(
                    httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
                )
                transport = streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
                sdk_http.append(await stack.enter_async_context(Client(transport)))  # type: ignore[arg-type]
            minimal = [await _minimal_http_call(port, token) for _ in range(CLIENTS)]

            rpc_one, stdio_one = _rpc_call(rpcs[0]), _sdk_call(stdio)
            await _timed(rpc_one, WARMUP)
            await _timed(stdio_one, WARMUP)
            rpc_lat: list[float] = []
            stdio_lat: list[float] = []
            for _ in range(BLOCKS):
                rpc_lat += await _timed(rpc_one, CALLS)
                stdio_lat += await _timed(stdio_one, CALLS)

            kinds = {
                "rpc": [_rpc_call(c) for c in rpcs],
                "sdk": [_sdk_call(c) for c in sdk_http],
                "minimal": minimal,
            }
            for calls in kinds.values():  # warm: the first /mcp request imports the SDK
                await asyncio.gather(*(c() for c in calls))
            totals = dict.fromkeys(kinds, (0, 0.0))
            for _ in range(ROUNDS):
                for name, calls in kinds.items():
                    n, t = await _window(calls, WINDOW_S)
                    totals[name] = (totals[name][0] + n, totals[name][1] + t)
            rate = {name: n / t for name, (n, t) in totals.items()}
    finally:
        _stop(proc)
    ms = 1e3
    floor = "pane.list over JSON-RPC (RpcClient), same orchestrator, interleaved"
    tput_floor = f"pane.list over JSON-RPC, {CLIENTS} RpcClients, interleaved"
    return [
        Row("mcp: pane_list over stdio, SDK client (median)", median(stdio_lat) * ms, "ms",
            median(rpc_lat) * ms, floor, "<= 2x"),
        Row("mcp: pane_list over stdio, SDK client (p95)", p95(stdio_lat) * ms, "ms",
            p95(rpc_lat) * ms, floor),
        Row(f"mcp: pane_list over HTTP, {CLIENTS} SDK clients", rate["sdk"], "calls/s",
            rate["rpc"], tput_floor, ">= 0.5x"),
        Row(f"mcp: pane_list over HTTP, {CLIENTS} minimal clients", rate["minimal"], "calls/s",
            rate["rpc"], tput_floor, ">= 0.5x"),
    ]  # fmt: skip


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-mcp-"))
    tmux_socket = f"orchflow-bench-mcp-{os.getpid()}"
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
