"""Coordination in a real orchestrator process: lock round trips, and how late a due
schedule fires.

Floors, measured in the same run:
- lock.acquire / lock.release round trip: system.ping's round trip on the same connection
  (the cheapest method: what the lock bookkeeping adds is the difference). A connection's
  locks are written to orchestrator.db off the round trip (nothing restores them);
- acquire + release for an owner that outlives the process (``mcp-http``, agents, swarm
  tasks), each answered once committed to a real orchestrator.db, in process: the same
  LockManager calls without the journal (process state only);
- a due schedule's delay (fired_at - due_at, both in the orchestrator's clock): the same
  firing path started by schedule.run_now in the same warm pane (due_at = when the request
  arrived), so the difference is the scheduler's wake-up. The cron firing needs the next
  minute boundary: this module waits for it (at most a minute).

    .venv/bin/python -m benchmarks coordination
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
from benchmarks.common import Row, median, p95

CALLS = 2000
WARMUP = 200
DONE = ("finished", "cancelled", "lost", "skipped", "error")


async def _rtts(client: Any, method: str, params: dict[str, Any] | None = None) -> list[float]:
    samples = []
    for i in range(WARMUP + CALLS):
        t = time.perf_counter()
        await client.call(method, params)
        if i >= WARMUP:
            samples.append(time.perf_counter() - t)
    return samples


async def _lock_rtts(client: Any) -> tuple[list[float], list[float]]:
    acquire, release = [], []
    for i in range(WARMUP + CALLS):
        t = time.perf_counter()
        lock = await client.call("lock.acquire", {"resource": "bench", "mode": "exclusive"})
        t1 = time.perf_counter()
        await client.call("lock.release", {"lock_id": lock["lock_id"]})
        t2 = time.perf_counter()
        if i >= WARMUP:
            acquire.append(t1 - t)
            release.append(t2 - t1)
    return acquire, release


async def _durable_pairs(journal: bool) -> list[float]:
    """acquire + release (+ their commits with ``journal``) for owner ``mcp-http``."""
    from orchestrator.coordination.lock_journal import LockJournal
    from orchestrator.coordination.lock_repository import LockRepository
    from orchestrator.coordination.locks import LockManager, LockMode
    from orchestrator.schema import open_state_db

    db = await open_state_db(Path(tempfile.mkdtemp(prefix="orchflow-bench-locks-")))
    locks = LockManager()
    if journal:
        locks.journal = LockJournal(LockRepository(db))
    samples = []
    try:
        for i in range(WARMUP + CALLS):
            t = time.perf_counter()
            lock = await locks.acquire("mcp-http", "mcp-http", "bench", LockMode.EXCLUSIVE)
            locks.release("mcp-http", lock["lock_id"])
            await locks.durable("mcp-http")
            if i >= WARMUP:
                samples.append(time.perf_counter() - t)
    finally:
        locks.close()
        await db.close()
    return samples


async def _firing(client: Any, name: str, pred: Any) -> dict[str, Any]:
    """The newest firing of ``name`` that matches ``pred`` and has ended (bounded)."""
    async with asyncio.timeout(90):
        while True:
            for f in await client.call("schedule.history", {"name": name}):
                if f["state"] in DONE and pred(f):
                    return dict(f)
            await asyncio.sleep(0.05)


async def _schedule_delays(client: Any) -> tuple[float, float]:
    """(a cron firing's fired_at - due_at, run_now's fired_at - due_at), in seconds."""
    await client.call(
        "schedule.add",
        {"name": "bench", "cron": "* * * * *", "job": {"command": "true"}, "tz": "UTC"},
    )
    cold = await client.call("schedule.run_now", {"name": "bench"})  # makes the pane
    await _firing(client, "bench", lambda f: f["id"] == cold["id"])
    started = await client.call("schedule.run_now", {"name": "bench"})
    warm = await _firing(client, "bench", lambda f: f["id"] == started["id"])
    # the next minute boundary's firing (a cron firing has no reason)
    cron = await _firing(
        client, "bench", lambda f: f["reason"] is None and f["due_at"] > warm["fired_at"]
    )
    return cron["fired_at"] - cron["due_at"], warm["fired_at"] - warm["due_at"]


async def _measure(base: Path, env: dict[str, str]) -> list[Row]:
    from orchflow_core.rpc.client import RpcClient

    proc, _ = _spawn_orchestrator(base, env)
    try:
        info = json.loads((base / "runtime" / "orchestrator.json").read_text())
        async with await RpcClient.connect(info["url"], info["token"]) as client:
            ping = await _rtts(client, "system.ping")
            acquire, release = await _lock_rtts(client)
            ping_after = await _rtts(client, "system.ping")
            late, late_floor = await _schedule_delays(client)
    finally:
        _stop(proc)
    durable = await _durable_pairs(journal=True)
    in_memory = await _durable_pairs(journal=False)
    ms = 1e3
    floor = median(ping + ping_after) * ms
    floor_p95 = p95(ping + ping_after) * ms
    name = "system.ping round trip, same connection"
    return [
        Row("coordination: lock.acquire round trip (median)", median(acquire) * ms, "ms",
            floor, name, "<= 1 ms"),
        Row("coordination: lock.acquire round trip (p95)", p95(acquire) * ms, "ms",
            floor_p95, name),
        Row("coordination: lock.release round trip (median)", median(release) * ms, "ms",
            floor, name, "<= 1 ms"),
        Row("coordination: durable owner acquire+release (median)",
            median(durable) * ms, "ms", median(in_memory) * ms,
            "the same calls, no journal"),
        Row("coordination: due schedule fires (fired_at - due_at)", late * ms, "ms",
            late_floor * ms, "schedule.run_now in the same warm pane", "<= 1000 ms"),
    ]  # fmt: skip


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-coord-"))
    tmux_socket = f"orchflow-bench-coord-{os.getpid()}"
    try:
        return asyncio.run(_measure(base, _env(base, tmux_socket)))
    finally:
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    from benchmarks.common import print_table

    t0 = time.perf_counter()
    print_table(run())
    print(f"# {time.perf_counter() - t0:.1f} s", file=sys.stderr)
