"""``ai.complete`` through the orchestrator against a direct HTTP call to the same server.

The server is the fake OpenAI-compatible API of the tests (tests/orchestrator/providers/
fake_api.py, a stand-in for a model server), in a process of its own (in this process its
thread would compete with the floor's client for the GIL). Figures, each
with its floor from the same run, alternating blocks so both see the same load:

- ``ai.complete`` (plain) over orchflow's JSON-RPC (RpcClient → orchestrator → httpx2 → the
  server, SSE parsed, breaker and retry bookkeeping) against the floor: the same streamed
  POST made directly with httpx2 from this process, its body read to the end. The
  difference is orchflow's overhead per completion; target: median <= floor + 5 ms.
- ``ai.complete {stream: true}`` until ``ai.done`` (deltas as notifications) against the
  same floor.

    .venv/bin/python -m benchmarks providers
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_orchestrator import _env, _spawn_orchestrator, _stop
from benchmarks.common import ROOT, Row, median, p95

BLOCKS = 10
CALLS = 20
WARMUP = 20
TEXT = "Hello, world"  # the fake server's default answer, in three chunks
SERVER = (
    "import sys; from tests.orchestrator.providers.fake_api import FakeApi; "
    "api = FakeApi().start(); print(api.url, flush=True); sys.stdin.read(); api.close()"
)


async def _measure(base: Path, env: dict[str, str], url: str) -> list[Row]:
    import httpx2

    from orchestrator import discovery
    from orchflow_core.rpc.client import RpcClient
    from tests.orchestrator.providers.fake_api import MODEL

    config = Path(env["ORCHFLOW_CONFIG"])
    config.write_text(
        f'[providers.local]\nkind = "openai"\nbase_url = "{url}/v1"\nmodel = "{MODEL}"\n'
    )
    proc, _ = _spawn_orchestrator(base, env)
    try:
        info = discovery.read(base / "runtime" / "orchestrator.json")
        client = await RpcClient.connect(info.url, info.token)
        done: dict[str, asyncio.Future[Any]] = {}

        def on_done(params: Any) -> None:
            # ai.done may overtake ai.complete's answer (the request id): keep it for then
            fut = done.setdefault(params["request_id"], asyncio.get_running_loop().create_future())
            if not fut.done():
                fut.set_result(params)

        client.on_notification("ai.done", on_done)
        client.on_notification("ai.error", on_done)
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        }
        http = httpx2.AsyncClient()

        async def direct() -> None:
            async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                async for _ in r.aiter_lines():
                    pass

        async def plain() -> None:
            out = await client.call("ai.complete", {"prompt": "hi"})
            assert out["text"] == TEXT, out

        async def streamed() -> None:
            loop = asyncio.get_running_loop()
            started = await client.call("ai.complete", {"prompt": "hi", "stream": True})
            fut = done.setdefault(started["request_id"], loop.create_future())
            end = await fut
            done.pop(started["request_id"], None)
            assert end.get("text") == TEXT, end

        async def timed(fn: Any, n: int) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                await fn()
                out.append(time.perf_counter() - t)
            return out

        for fn in (direct, plain, streamed):
            await timed(fn, WARMUP)
        samples: dict[str, list[float]] = {"direct": [], "plain": [], "streamed": []}
        for _ in range(BLOCKS):
            for name, fn in (("direct", direct), ("plain", plain), ("streamed", streamed)):
                samples[name] += await timed(fn, CALLS)
        await http.aclose()
        await client.close()
    finally:
        _stop(proc)
    floor = median(samples["direct"]) * 1000
    floor95 = p95(samples["direct"]) * 1000
    return [
        Row("ai.complete plain, median", median(samples["plain"]) * 1000, "ms", floor,
            "direct httpx2 POST, same server", "<= floor + 5 ms"),
        Row("ai.complete plain, p95", p95(samples["plain"]) * 1000, "ms", floor95,
            "direct httpx2 POST p95", ""),
        Row("ai.complete stream to ai.done, median", median(samples["streamed"]) * 1000, "ms",
            floor, "direct httpx2 POST, same server", "<= floor + 5 ms"),
    ]  # fmt: skip


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-providers-"))
    tmux_socket = f"orchflow-bench-providers-{os.getpid()}"
    env = _env(base, tmux_socket)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    try:
        return asyncio.run(_measure(base, env, server.stdout.readline().strip()))
    finally:
        server.stdin.close()
        server.wait(10)
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
    sys.exit(0)
