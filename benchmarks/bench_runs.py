"""Runs and shell integration: what a run costs over the shell's own time.

- ``pane run true`` -> ``run.finished``: ``TerminalManager.run`` in a bash pane with shell
  integration, until the run's end is stored and published. Floor, same tmux server: a bare
  control-mode client types ``true; printf <marker>`` into a plain bash pane and
  waits for the marker's bytes: the time the shell itself needs to read, run and report.
- typed command -> run recorded: ``true`` typed with ``tmux send-keys`` (outside orchflow);
  from the moment orchflow reads the shell's end mark to the moment the run is in SQLite
  and ``run.finished`` is published.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.bench_mux import BareControlClient
from benchmarks.common import Row, median, p95

N = 60


def _conf(home: Path) -> Path:
    conf = home / "tmux.conf"
    conf.write_text(
        f"set -g default-shell {shutil.which('bash')}\n"
        f'set-environment -g HOME "{home}"\nset -g status off\n'
    )
    (home / ".bash_profile").write_text("PS1='$ '\n")
    return conf


def _floor(socket: str, conf: Path) -> list[float]:
    subprocess.run(
        ["tmux", "-L", socket, "-f", str(conf), "new-session", "-d", "-s", "floor"],
        check=True,
        capture_output=True,
    )
    bare = BareControlClient(socket, "floor")
    try:
        pane = subprocess.run(
            ["tmux", "-L", socket, "new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "floor",
             "bash --norc -i"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        time.sleep(0.5)
        times = []
        for i in range(N):
            # the echo of the typed line holds "F%sZ", never the marker "F<i>Z" itself
            line = f"true; printf 'F%sZ' {i:04d}"
            t0 = time.perf_counter()
            seen = bare.send_until(f'send-keys -t {pane} "{line}" Enter', f"F{i:04d}Z".encode())
            times.append((seen - t0) * 1000)
            time.sleep(0.01)
        return times
    finally:
        bare.close()
        subprocess.run(["tmux", "-L", socket, "kill-session", "-t", "floor"], capture_output=True)


async def _ours(socket: str, conf: Path, state: Path) -> tuple[list[float], list[float]]:
    os.environ["ORCHFLOW_TMUX_SOCKET"] = socket
    for name in ("DATA", "STATE", "CACHE", "CONFIG"):
        os.environ[f"XDG_{name}_HOME"] = str(state / name.lower())
    from orchflow_core.core import Core
    from orchflow_core.events import Event

    core = Core({"tmux": {"config_file": str(conf)}}, project_root=state)
    tm = await core.terminals()
    try:
        await tm.new_pane(name="bench")
        await tm.run_tracker.wait_prompt("bench", timeout_s=15)
        finished: dict[str, float] = {}
        marks: dict[str, float] = {}

        arrived = asyncio.Event()

        def on_finished(event: Event) -> None:
            finished[event.data["id"]] = time.perf_counter()
            arrived.set()

        core.events.subscribe(on_finished, kinds=("run.finished",))
        tracker = tm.run_tracker
        original = tracker.on_mark

        def timed(pane_id: str, mark: object) -> None:
            if getattr(mark, "kind", "") == "D":
                marks[f"{mark.shell_pid}-{mark.seq}"] = time.perf_counter()  # type: ignore[attr-defined]
            original(pane_id, mark)  # type: ignore[arg-type]

        tm.backend.on_mark = timed  # type: ignore[attr-defined]
        run_ms = []
        for _ in range(N):
            arrived.clear()
            t0 = time.perf_counter()
            run = await tm.run("bench", "true")
            while run["id"] not in finished:
                await arrived.wait()
                arrived.clear()
            run_ms.append((finished[run["id"]] - t0) * 1000)
            await tracker.wait_prompt("bench", timeout_s=5)
        typed_ms = []
        pane_id = tm.resolve("bench").pane_id
        for _ in range(N):
            before = set(finished)
            arrived.clear()
            typer = await asyncio.create_subprocess_exec(
                "tmux", "-L", socket, "send-keys", "-t", pane_id, "true", "Enter"
            )
            await typer.wait()
            async with asyncio.timeout(10):
                while not (set(finished) - before):
                    await arrived.wait()
                    arrived.clear()
            run_id = (set(finished) - before).pop()
            key = run_id.split("-", 2)[2]
            typed_ms.append((finished[run_id] - marks[key]) * 1000)
            await tracker.wait_prompt("bench", timeout_s=5)
        return run_ms, typed_ms
    finally:
        await core.close()


def run() -> list[Row]:
    socket = f"orchflow-bench-{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix="orchflow-bench-runs-"))
    conf = _conf(home)
    saved = dict(os.environ)
    try:
        floor = _floor(socket, conf)
        run_ms, typed_ms = asyncio.run(_ours(socket, conf, home / "state"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from tests.harness.tmux import kill_socket_processes

        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        kill_socket_processes(socket)
    over = median(run_ms) - median(floor)
    return [
        Row(
            "pane run `true` -> run.finished",
            median(run_ms),
            "ms",
            median(floor),
            "bare client: type `true; printf marker` -> marker",
            "<= floor + 2 ms",
        ),
        Row("  over the shell's own time", over, "ms", None, "", "<= 2 ms"),
        Row("  p95", p95(run_ms), "ms", None, "", ""),
        Row(
            "typed command: end mark -> run stored",
            median(typed_ms),
            "ms",
            None,
            "",
            "<= 5 ms",
        ),
        Row("  p95", p95(typed_ms), "ms", None, "", ""),
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
    sys.exit(0)
