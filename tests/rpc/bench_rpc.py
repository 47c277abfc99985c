"""Quick measurements (not a test): RpcServer+RpcClient against the floor.

    .venv/bin/python -m tests.rpc.bench_rpc

The floor is a bare websockets server (compression off, orjson) that answers
each request with a minimal JSON-RPC response and no checks; both servers run
in their own process, the clients in this one, with the same RpcClient.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve

from orchflow_core.rpc.auth import new_token
from orchflow_core.rpc.client import RpcClient
from orchflow_core.rpc.server import RpcServer

ROOT = Path(__file__).resolve().parents[2]


async def _echo(params: Any, ctx: Any) -> Any:
    return params


async def _bare_handler(ws: ServerConnection) -> None:
    async for frame in ws:
        msg = orjson.loads(frame)
        await ws.send(
            orjson.dumps({"jsonrpc": "2.0", "result": msg.get("params"), "id": msg["id"]}),
            text=True,
        )


async def _serve(kind: str) -> None:
    if kind == "rpc":
        server = RpcServer({"echo": _echo}.get, token=os.environ["BENCH_TOKEN"])
        await server.start()
        print(server.url, flush=True)
    else:
        bare = await serve(_bare_handler, "127.0.0.1", 0, compression=None)
        print(f"ws://127.0.0.1:{bare.sockets[0].getsockname()[1]}/", flush=True)
    await asyncio.Event().wait()


async def _rtt(url: str, token: str, n: int) -> list[float]:
    async with await RpcClient.connect(url, token) as client:
        for _ in range(200):
            await client.call("echo", [1])
        samples = []
        for i in range(n):
            t = time.perf_counter()
            await client.call("echo", [i])
            samples.append(time.perf_counter() - t)
    return samples


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _throughput(url: str, token: str, clients: int, seconds: float) -> tuple[float, int]:
    conns = [await RpcClient.connect(url, token) for _ in range(clients)]
    count = 0
    stop = time.perf_counter() + seconds

    async def loop(c: RpcClient) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await c.call("echo", [count])
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        await c.close()
    return count / elapsed, count


def _spawn_server(kind: str, token: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.rpc.bench_rpc", "serve", kind],
        cwd=ROOT,
        env={**os.environ, "BENCH_TOKEN": token},
        stdout=subprocess.PIPE,
        text=True,
    )


async def main() -> None:
    token = new_token()
    procs = {kind: _spawn_server(kind, token) for kind in ("rpc", "bare")}
    try:
        urls = {k: p.stdout.readline().strip() for k, p in procs.items() if p.stdout}
        for round_ in range(3):
            for kind in ("bare", "rpc"):
                rtt = sorted(await _rtt(urls[kind], token, 3000))
                med, p95 = rtt[len(rtt) // 2] * 1e3, rtt[int(len(rtt) * 0.95)] * 1e3
                cpu0 = _cpu_seconds(procs[kind].pid)
                tput, count = await _throughput(urls[kind], token, 64, 2.0)
                cpu = (_cpu_seconds(procs[kind].pid) - cpu0) / count * 1e6
                print(
                    f"round {round_} {kind:4}: RTT median {med:.3f} ms p95 {p95:.3f} ms"
                    f" (mean {statistics.fmean(rtt) * 1e3:.3f}); 64 clients {tput:,.0f} req/s,"
                    f" server CPU {cpu:.0f} us/req"
                )
    finally:
        for p in procs.values():
            p.terminate()
            p.wait(5)
            if p.stdout:
                p.stdout.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(_serve(sys.argv[2]))
    else:
        asyncio.run(main())
