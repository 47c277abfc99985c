"""Session templates: ``template.apply`` against ``tmuxp load -d`` of the same file.

- apply, 4 windows x 3 panes (a layout, a command in every pane): ``template.apply`` through
  the core's method table in a started core (as the Neovim host calls it), into a new
  session each time, until it returns (panes made, layouts set, every command started as a
  run). Floor, same run and same tmux config: ``tmuxp load -d -s <new name>`` of the same
  file on a tmux server of its own, as a subprocess (what a user runs; its start-up is part
  of it).
- a second apply (nothing to do): ``template.apply`` to a session that already has it all;
  it lists the session, compares and creates nothing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import Row, median, p95

N = 5
N_NOOP = 20


def _template(home: Path) -> Path:
    lines = ["session_name: bench-tpl", f"start_directory: {home}", "windows:"]
    for w in range(4):
        lines += [f"  - window_name: w{w}", "    layout: tiled", "    panes:"]
        lines += [f"      - echo pane-{w}-{p}" for p in range(3)]
    f = home / "bench.yaml"
    f.write_text("\n".join(lines) + "\n")
    return f


def _floor(conf: Path, file: Path) -> list[float]:
    socket = f"orchflow-bench-tmuxp-{uuid.uuid4().hex[:8]}"
    tmuxp = str(Path(sys.executable).with_name("tmuxp"))
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    times = []
    try:
        for i in range(N):
            t0 = time.perf_counter()
            subprocess.run(
                [tmuxp, "load", "-d", "-y", "-L", socket, "-f", str(conf), "-s", f"s{i}",
                 str(file)],
                check=True, capture_output=True, env=env, timeout=120,
            )  # fmt: skip
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        _kill(socket)
    return times


def _kill(socket: str) -> None:
    from tests.harness.tmux import kill_socket_processes

    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
    kill_socket_processes(socket)


async def _ours(conf: Path, file: Path, state: Path) -> tuple[list[float], list[float]]:
    from orchflow_core.api import dispatch
    from orchflow_core.core import Core
    from orchflow_core.registry import load_methods

    load_methods()
    core = Core({"tmux": {"config_file": str(conf)}}, project_root=state)
    await core.start()
    try:
        await core.terminals()
        apply_ms, noop_ms = [], []
        for i in range(N):
            t0 = time.perf_counter()
            ok, res = await dispatch(
                core, "template.apply", {"path": str(file), "session": f"s{i}"}
            )
            apply_ms.append((time.perf_counter() - t0) * 1000)
            assert ok and res["created"] == {"windows": 4, "panes": 12}, res
        for _ in range(N_NOOP):
            t0 = time.perf_counter()
            ok, res = await dispatch(core, "template.apply", {"path": str(file), "session": "s0"})
            noop_ms.append((time.perf_counter() - t0) * 1000)
            assert ok and res["created"] == {"windows": 0, "panes": 0}, res
        return apply_ms, noop_ms
    finally:
        await core.close()


def run() -> list[Row]:
    home = Path(tempfile.mkdtemp(prefix="orchflow-bench-tpl-"))
    conf = home / "tmux.conf"
    conf.write_text('set -g default-command "bash --norc --noprofile"\nset -g status off\n')
    file = _template(home)
    socket = f"orchflow-bench-{uuid.uuid4().hex[:8]}"
    saved = dict(os.environ)
    try:
        floor = _floor(conf, file)
        os.environ["ORCHFLOW_TMUX_SOCKET"] = socket
        for name in ("DATA", "STATE", "CACHE", "CONFIG"):
            os.environ[f"XDG_{name}_HOME"] = str(home / name.lower())
        apply_ms, noop_ms = asyncio.run(_ours(conf, file, home / "state"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _kill(socket)
    return [
        Row(
            "template.apply 4 windows x 3 panes",
            median(apply_ms),
            "ms",
            median(floor),
            "`tmuxp load -d` of the same file",
            "<= 1.5x floor",
        ),
        Row("  p95", p95(apply_ms), "ms", None, "", ""),
        Row("template.apply again (nothing to do)", median(noop_ms), "ms", None, "", "<= 50 ms"),
        Row("  p95", p95(noop_ms), "ms", None, "", ""),
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
