"""The Ray executor's per-task scheduling overhead, beside the local executor's, same run.

A private two-node Ray cluster on this machine (tests/harness/ray_cluster.py: one CPU per
node, token authentication on) and two orchestrator processes with their own tmux server:
one with the local executor, one with ``[executor] kind = "ray"``. Figures:

- Submit -> process started (the task's ``started_at``: for Ray, when the actor on its node
  started the command), one-task swarms, on each executor: the Ray figure against the
  local one (warm pool) measured just before.
- The same Ray figure against a bare Ray actor made from this process (``.remote()`` ->
  its first method answered): what Ray itself costs per task, the floor under any executor
  built on actors.

    .venv/bin/python -m benchmarks ray
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

from benchmarks.bench_orchestrator import _env, _spawn_orchestrator, _stop
from benchmarks.bench_swarm import _Ends
from benchmarks.common import Row, median

RUNS = 20
TOKEN_ENV = "ORCHFLOW_BENCH_RAY_TOKEN"


async def _overhead(client: Any, ends: _Ends, host: str | None) -> float:
    task: dict[str, Any] = {"id": "t", "command": "true"}
    if host is not None:
        task["host"] = host
    t0 = time.time()
    sub = await client.call("swarm.submit", {"tasks": [task]})
    async with asyncio.timeout(120):
        await ends.event(sub["swarm_id"]).wait()
    status = await client.call("swarm.status", {"swarm_id": sub["swarm_id"]})
    if status["state"] != "succeeded":
        raise RuntimeError(f"swarm {status['state']}: {status['reason']}")
    return float(status["tasks"][0]["started_at"]) - t0


async def _swarm_overheads(base: Path, env: dict[str, str], host: str | None) -> list[float]:
    from orchflow_core.rpc.client import RpcClient

    proc, _ = _spawn_orchestrator(base, env)
    try:
        info = json.loads((base / "runtime" / "orchestrator.json").read_text())
        async with await RpcClient.connect(info["url"], info["token"]) as client:
            ends = _Ends(client)
            await client.call("swarm.watch")
            await _overhead(client, ends, host)  # the pool's pane / the Ray connection
            return [await _overhead(client, ends, host) for _ in range(RUNS)]
    finally:
        _stop(proc)


def _bare_actor_starts(address: str, token: str) -> list[float]:
    """``.remote()`` of an empty actor -> its first method answered, in a child process (a
    driver of its own, as the orchestrator is)."""
    code = f"""
import json, time, ray
ray.init(address={address!r}, log_to_driver=False, logging_level="ERROR")
@ray.remote(num_cpus=0)
class Empty:
    def ping(self):
        return time.time()
out = []
for _ in range({RUNS + 1}):
    t0 = time.time()
    a = Empty.remote()
    ray.get(a.ping.remote())
    out.append(time.time() - t0)
    ray.kill(a)
print(json.dumps(out[1:]))
"""
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"bare Ray actors: {done.stderr[-2000:]}")
    return [float(x) for x in json.loads(done.stdout.splitlines()[-1])]


def run() -> list[Row]:
    from tests.harness.ray_cluster import RayCluster
    from tests.harness.tmux import kill_socket_processes

    root = Path(tempfile.mkdtemp(prefix="orchflow-bench-ray-"))
    tmux_socket = f"orchflow-bench-ray-{os.getpid()}"
    cluster = RayCluster(root / "ray")
    try:
        cluster.start_node("head", head=True)
        cluster.start_node("worker2")
        local_env = _env(root / "local", tmux_socket)
        local = asyncio.run(_swarm_overheads(root / "local", local_env, None))
        ray_base = root / "ray-orch"
        ray_env = _env(ray_base, tmux_socket)
        (ray_base / "config" / "ray.toml").write_text(
            f'[executor]\nkind = "ray"\naddress = "{cluster.address}"\n'
            f'namespace = "orchflow-bench"\ntoken_env = "{TOKEN_ENV}"\n'
        )
        ray_env.update(ORCHFLOW_CONFIG=str(ray_base / "config" / "ray.toml"))
        ray_env[TOKEN_ENV] = cluster.token
        on_worker = asyncio.run(_swarm_overheads(ray_base, ray_env, "worker2"))
        bare = _bare_actor_starts(cluster.address, cluster.token)
    finally:
        cluster.stop()
        kill_socket_processes(tmux_socket)
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)
    ms = 1e3
    return [
        Row("ray: swarm submit -> process started on node worker2 (median)",
            median(on_worker) * ms, "ms", median(local) * ms,
            "the local executor, warm pool, same run"),
        Row("ray: swarm submit -> process started on node worker2 (median)",
            median(on_worker) * ms, "ms", median(bare) * ms,
            "a bare Ray actor: .remote() -> first call answered"),
    ]  # fmt: skip


if __name__ == "__main__":
    from benchmarks.common import print_table

    t0 = time.perf_counter()
    print_table(run())
    print(f"# {time.perf_counter() - t0:.1f} s", file=sys.stderr)
