"""Swarms in a real orchestrator process with its own tmux server (the local executor).

Figures, each against a floor measured in the same run:
- N ``sleep 1`` tasks in parallel (N = 1, 4, 8, 16; max_parallel N), submit to the swarm's
  end (its ``swarm.progress`` notification): against the same N tasks run one by one (a
  ``sequential`` swarm). The speedup is floor / value; the goal is >= 0.9 N.
- Per-task scheduling overhead, submit -> process started (the run's ``started_at``, when
  the shell reported the command starting), one-task swarms in a warm pool: against
  ``pane.run`` of the same command in a warm pane (request -> started_at): the cost of
  typing a command into a shell, which every task pays too.
- The same overhead without a pool (each swarm in a new directory, so its pane is made
  first): against the warm-pool figure, which shows what the pool saves.
- Prompt tasks (an ACP agent of the registry: benchmarks/acp_bench_agent.py, a stand-in
  for a paid model, which stamps its first chunk with ``time.monotonic()`` when the turn
  reaches it): submit -> turn started, one-task swarms taking a warm agent of the pool
  (``[swarm] agent_idle_s`` keeps it), against the same with a cold agent (each swarm in a
  new directory, so its agent is started, initialized and given a session first).

    .venv/bin/python -m benchmarks swarm
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_orchestrator import _env, _spawn_orchestrator, _stop
from benchmarks.common import Row, median

SIZES = (1, 4, 8, 16)
OVERHEAD_RUNS = 30
COLD_RUNS = 10
PROMPT_RUNS = 20
COLD_PROMPT_RUNS = 8
AGENT = [sys.executable, "-I", str(Path(__file__).with_name("acp_bench_agent.py"))]


class _Ends:
    """Swarm ids whose end notification arrived."""

    def __init__(self, client: Any) -> None:
        self.ended: dict[str, asyncio.Event] = {}
        client.on_notification("swarm.progress", self._on)

    def _on(self, params: Any) -> None:
        if params.get("task") is None:
            self.event(params["swarm_id"]).set()

    def event(self, swarm_id: str) -> asyncio.Event:
        return self.ended.setdefault(swarm_id, asyncio.Event())


async def _wall(client: Any, ends: _Ends, n: int, strategy: str) -> float:
    tasks = [{"id": f"t{i}", "command": "sleep 1"} for i in range(n)]
    t0 = time.perf_counter()
    sub = await client.call(
        "swarm.submit", {"tasks": tasks, "strategy": strategy, "max_parallel": n}
    )
    async with asyncio.timeout(120):
        await ends.event(sub["swarm_id"]).wait()
    wall = time.perf_counter() - t0
    status = await client.call("swarm.status", {"swarm_id": sub["swarm_id"]})
    if status["state"] != "succeeded":
        raise RuntimeError(f"swarm {strategy} N={n} {status['state']}: {status['reason']}")
    return wall


async def _overhead(client: Any, ends: _Ends, cwd: str | None) -> float:
    task: dict[str, Any] = {"id": "t", "command": "true"}
    if cwd is not None:
        task["cwd"] = cwd
    t0 = time.time()
    sub = await client.call("swarm.submit", {"tasks": [task]})
    async with asyncio.timeout(60):
        await ends.event(sub["swarm_id"]).wait()
    status = await client.call("swarm.status", {"swarm_id": sub["swarm_id"]})
    return float(status["tasks"][0]["started_at"]) - t0


async def _turn_started(client: Any, ends: _Ends, cwd: str | None) -> float:
    """Submit -> the agent's first chunk of the turn (its ``time.monotonic()`` stamp)."""
    task: dict[str, Any] = {"id": "p", "prompt": "chunks 1", "agent": "bench"}
    if cwd is not None:
        task["cwd"] = cwd
    t0 = time.monotonic()
    sub = await client.call("swarm.submit", {"tasks": [task]})
    async with asyncio.timeout(60):
        await ends.event(sub["swarm_id"]).wait()
    status = await client.call("swarm.status", {"swarm_id": sub["swarm_id"]})
    row = status["tasks"][0]
    stamp = re.search(r"(\d+\.\d{9});", row["output_tail"] or "")
    if status["state"] != "succeeded" or stamp is None:
        raise RuntimeError(f"prompt task {status['state']}: {row['reason']} {row['output_tail']}")
    return float(stamp.group(1)) - t0


async def _pane_run_floor(client: Any) -> list[float]:
    pane = await client.call("pane.new", {"type": "shell", "name": "bench-floor"})
    await asyncio.sleep(1.0)  # its rc files
    out = []
    for _ in range(OVERHEAD_RUNS):
        t0 = time.time()
        run = await client.call("pane.run", {"pane": pane["id"], "cmd": "true"})
        out.append(float(run["started_at"]) - t0)
        await client.call("run.wait", {"id": run["id"]})
        await asyncio.sleep(0.05)  # the next prompt
    return out


async def _measure(base: Path, env: dict[str, str]) -> list[Row]:
    from orchflow_core.rpc.client import RpcClient

    proc, _ = _spawn_orchestrator(base, env)
    rows: list[Row] = []
    try:
        info = json.loads((base / "runtime" / "orchestrator.json").read_text())
        async with await RpcClient.connect(info["url"], info["token"]) as client:
            ends = _Ends(client)
            await client.call("swarm.watch")
            await _wall(client, ends, 16, "parallel")  # makes the pool's 16 panes
            for n in SIZES:
                par = await _wall(client, ends, n, "parallel")
                seq = await _wall(client, ends, n, "sequential")
                rows.append(
                    Row(f"swarm: {n} x sleep 1 in parallel, submit -> end (speedup"
                        f" {seq / par:.2f}x)", par, "s", seq, f"the {n} run one by one",
                        f"speedup >= {0.9 * n:g}x")
                )  # fmt: skip
            floor = await _pane_run_floor(client)
            warm = [await _overhead(client, ends, None) for _ in range(OVERHEAD_RUNS)]
            cold = []
            for i in range(COLD_RUNS):
                fresh = base / f"cold-{i}"
                fresh.mkdir()
                cold.append(await _overhead(client, ends, str(fresh)))
            await _turn_started(client, ends, None)  # the pool's agent for this cwd
            warm_turn = [await _turn_started(client, ends, None) for _ in range(PROMPT_RUNS)]
            cold_turn = []
            for i in range(COLD_PROMPT_RUNS):
                fresh = base / f"cold-agent-{i}"
                fresh.mkdir()
                cold_turn.append(await _turn_started(client, ends, str(fresh)))
    finally:
        _stop(proc)
    ms = 1e3
    rows.append(
        Row("swarm: submit -> process started, warm pool (median)", median(warm) * ms, "ms",
            median(floor) * ms, "pane.run in a warm pane -> started", "<= 10 ms")
    )  # fmt: skip
    rows.append(
        Row("swarm: submit -> process started, no pooled pane (median)", median(cold) * ms,
            "ms", median(warm) * ms, "the same with a warm pool")
    )  # fmt: skip
    rows.append(
        Row("swarm: prompt task submit -> turn started, warm pool agent (median)",
            median(warm_turn) * ms, "ms", median(cold_turn) * ms,
            "a cold agent: started, initialized, session/new")
    )  # fmt: skip
    return rows


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-swarm-"))
    tmux_socket = f"orchflow-bench-swarm-{os.getpid()}"
    try:
        env = _env(base, tmux_socket)
        Path(env["ORCHFLOW_CONFIG"]).write_text(
            f'[agents.bench]\ncommand = {json.dumps(AGENT)}\ntransport = "acp"\n'
            "\n[swarm]\nagent_idle_s = 600\n\n[worktree]\nai = false\n"
        )
        return asyncio.run(_measure(base, env))
    finally:
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    from benchmarks.common import print_table

    t0 = time.perf_counter()
    print_table(run())
    print(f"# {time.perf_counter() - t0:.1f} s", file=sys.stderr)
