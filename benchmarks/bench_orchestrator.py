"""The orchestrator process: round trip, throughput, ready time, idle cost, agent echo latency.

Floors, measured in the same run:
- round trip and throughput: a bare websockets server (compression off, orjson, no auth,
  no checks) in its own process answering every frame with a minimal JSON-RPC result,
  driven by the same RpcClient;
- ready time: spawning ``python -c pass`` until it exits;
- agent.send -> stream.output: the same tmux path without the orchestrator (TmuxBackend in
  this process: send_text, then wait on the pane's OutputSubscription);
- RSS: the bare echo server's.

    .venv/bin/python -m benchmarks orchestrator
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import ROOT, Row, median, p95

RTT_CALLS = 2000
CLIENTS = 64
THROUGHPUT_S = 2.0
READY_RUNS = 8
IDLE_S = 3.0
ECHO_RUNS = 150


# -- the floor server ------------------------------------------------------------------------


async def _bare_handler(ws: Any) -> None:
    async for frame in ws:
        msg = orjson.loads(frame)
        await ws.send(
            orjson.dumps({"jsonrpc": "2.0", "result": msg.get("params"), "id": msg["id"]}),
            text=True,
        )


async def _serve_bare() -> None:
    from websockets.asyncio.server import serve

    server = await serve(_bare_handler, "127.0.0.1", 0, compression=None)
    print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
    await asyncio.Event().wait()


# -- processes -------------------------------------------------------------------------------


def _env(base: Path, tmux_socket: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("config", "data", "state", "cache", "runtime", "log"):
        (base / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update(
        XDG_CONFIG_HOME=str(base / "config"),
        XDG_DATA_HOME=str(base / "data"),
        XDG_STATE_HOME=str(base / "state"),
        XDG_CACHE_HOME=str(base / "cache"),
        XDG_RUNTIME_DIR=str(base / "runtime"),
        ORCHFLOW_RUNTIME_DIR=str(base / "runtime"),
        ORCHFLOW_STATE_DIR=str(base / "data"),
        ORCHFLOW_LOG_DIR=str(base / "log"),
        ORCHFLOW_CONFIG=str(base / "config" / "none.toml"),
        ORCHFLOW_TMUX_SOCKET=tmux_socket,
    )
    return env


def _spawn_orchestrator(base: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], float]:
    """Start a server; returns it and the seconds from spawn to its ready line."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--listen", "127.0.0.1:0",
         "--discovery-file", str(base / "runtime" / "orchestrator.json")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    if not line:
        raise RuntimeError("orchestrator did not start")
    return proc, elapsed


def _spawn_bare() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_orchestrator", "bare"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- measurements ----------------------------------------------------------------------------


async def _rtt(url: str, token: str, method: str) -> list[float]:
    from orchflow_core.rpc.client import RpcClient

    async with await RpcClient.connect(url, token) as client:
        for _ in range(200):
            await client.call(method)
        samples = []
        for _ in range(RTT_CALLS):
            t = time.perf_counter()
            await client.call(method)
            samples.append(time.perf_counter() - t)
    return samples


async def _throughput(url: str, token: str, method: str) -> float:
    from orchflow_core.rpc.client import RpcClient

    conns = [await RpcClient.connect(url, token) for _ in range(CLIENTS)]
    count = 0
    stop = time.perf_counter() + THROUGHPUT_S

    async def loop(client: RpcClient) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await client.call(method)
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    rate = count / (time.perf_counter() - start)
    for c in conns:
        await c.close()
    return rate


async def _agent_echo(url: str, token: str) -> list[float]:
    """agent.send of a unique word until a stream.output notification carries it."""
    from orchflow_core.rpc.client import RpcClient

    async with await RpcClient.connect(url, token) as client:
        agent = await client.call("agent.create", {"type": "custom", "command": "cat"})
        seen: asyncio.Queue[str] = asyncio.Queue()
        client.on_notification("stream.output", lambda p: seen.put_nowait(p["data"]))
        await client.call("stream.subscribe", {"id": agent["id"]})
        samples = []
        for i in range(ECHO_RUNS + 10):
            word = f"w{i}x{uuid.uuid4().hex[:6]}"
            t = time.perf_counter()
            await client.call("agent.send", {"id": agent["id"], "text": word})
            text = ""
            async with asyncio.timeout(5):
                while word not in text:
                    text += await seen.get()
            if i >= 10:
                samples.append(time.perf_counter() - t)
            while not seen.empty():
                seen.get_nowait()
            await asyncio.sleep(0.002)
        await client.call("agent.stop", {"id": agent["id"]})
    return samples


async def _tmux_echo_floor(tmux_socket: str) -> list[float]:
    """The same echo without the orchestrator: TmuxBackend in this process."""
    from orchflow_core.mux.stream import Gap
    from orchflow_core.mux.tmux import TmuxBackend

    async with TmuxBackend(socket=tmux_socket) as backend:
        await backend.create_session("benchfloor")
        pane = await backend.create_pane("benchfloor", command="cat")
        sub = await backend.subscribe(pane.pane_id)
        samples = []
        for i in range(ECHO_RUNS + 10):
            word = f"f{i}x{uuid.uuid4().hex[:6]}"
            t = time.perf_counter()
            await backend.send_text(pane.pane_id, word + "\n")
            text = ""
            async with asyncio.timeout(5):
                while word not in text:
                    item = await sub.__anext__()
                    if not isinstance(item, Gap):
                        text += item.decode(errors="replace")
            if i >= 10:
                samples.append(time.perf_counter() - t)
            await asyncio.sleep(0.002)
        sub.close()
        await backend.close_pane(pane.pane_id)
    return samples


def _ready_floor() -> list[float]:
    out = []
    for _ in range(READY_RUNS):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        out.append(time.perf_counter() - t)
    return out


async def _measure(base: Path, env: dict[str, str], tmux_socket: str) -> list[Row]:
    ready = []
    for i in range(READY_RUNS):
        proc, seconds = _spawn_orchestrator(base / f"r{i}", _env(base / f"r{i}", tmux_socket))
        ready.append(seconds)
        _stop(proc)
    ready_floor = _ready_floor()

    proc, _ = _spawn_orchestrator(base, env)
    bare = _spawn_bare()
    try:
        info = json.loads((base / "runtime" / "orchestrator.json").read_text())
        url, token = info["url"], info["token"]
        assert bare.stdout is not None
        bare_url = bare.stdout.readline().strip()
        await asyncio.sleep(1.0)  # let tmux start in the background
        cpu0 = _cpu_seconds(proc.pid)
        await asyncio.sleep(IDLE_S)
        idle_cpu = (_cpu_seconds(proc.pid) - cpu0) / IDLE_S * 100
        rss, rss_floor = _rss_mb(proc.pid), _rss_mb(bare.pid)
        rtt_floor = await _rtt(bare_url, token, "echo")
        rtt = await _rtt(url, token, "system.ping")
        tput_floor = await _throughput(bare_url, token, "echo")
        tput = await _throughput(url, token, "system.ping")
        echo = await _agent_echo(url, token)
        echo_floor = await _tmux_echo_floor(tmux_socket)
    finally:
        _stop(proc)
        bare.terminate()
        bare.wait(5)
        if bare.stdout:
            bare.stdout.close()
    ms = 1e3
    floor_name = "bare websockets+orjson echo server, same RpcClient"
    return [
        Row("orchestrator: round trip system.ping (median)", median(rtt) * ms, "ms",
            median(rtt_floor) * ms, floor_name, "<= 0.3 ms"),
        Row("orchestrator: round trip system.ping (p95)", p95(rtt) * ms, "ms",
            p95(rtt_floor) * ms, floor_name),
        Row(f"orchestrator: throughput, {CLIENTS} clients", tput, "req/s", tput_floor,
            floor_name, ">= 20k req/s and >= 0.5x floor"),
        Row("orchestrator: ready (spawn -> discovery file)", median(ready) * ms, "ms",
            median(ready_floor) * ms, "python -c pass (spawn -> exit)", "<= 200 ms"),
        Row(f"orchestrator: idle CPU over {IDLE_S:.0f} s", idle_cpu, "%", None, "", "~0"),
        Row("orchestrator: RSS", rss, "MB", rss_floor, "bare echo server RSS", "<= 60 MB"),
        Row("orchestrator: agent.send -> stream.output (median)", median(echo) * ms, "ms",
            median(echo_floor) * ms, "TmuxBackend send_text -> subscription, in process",
            "<= 3 ms"),
        Row("orchestrator: agent.send -> stream.output (p95)", p95(echo) * ms, "ms",
            p95(echo_floor) * ms, "TmuxBackend send_text -> subscription, in process"),
    ]  # fmt: skip


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-orch-"))
    tmux_socket = f"orchflow-bench-{os.getpid()}"
    env = _env(base, tmux_socket)
    try:
        return asyncio.run(_measure(base, env, tmux_socket))
    finally:
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        asyncio.run(_serve_bare())
    else:
        from benchmarks.common import print_table

        t0 = time.perf_counter()
        print_table(run())
        print(f"# {time.perf_counter() - t0:.1f} s", file=sys.stderr)
