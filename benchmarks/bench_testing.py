"""The test runner's overhead over running the framework directly, same suite, same run.

Suite: 2,000 pytest tests (20 files: plain, parametrised, a class; all pass) in a temp dir.
- floor: ``python -m pytest -q`` of the suite in a subprocess, start to exit;
- ours: ``test.run`` (dispatch, as the host serves it) until ``test.results`` is complete: the
  command typed into the test pane (bash with orchflow's shell integration), pytest with
  orchflow's recorder plugin (pytest_runner.py), the run's end seen, the JSON lines read. The pane
  is reused (it is made by a first, unmeasured run, as an editor's first run would make it).
Runs alternate (floor, ours) so drift hits both; medians of ``N`` each. The counts of every run
are checked against pytest's own summary line.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import Row, median

N = 5
FILES = 20


def make_suite(root: Path) -> int:
    (root / "pytest.ini").write_text("[pytest]\n")
    total = 0
    for f in range(FILES):
        lines = ["import pytest", ""]
        for i in range(60):
            lines += [f"def test_plain_{i}():", f"    assert {i} + 1 == {i + 1}", ""]
        lines += ['@pytest.mark.parametrize("n", range(20))', "def test_param(n):",
                  "    assert n >= 0", ""]  # fmt: skip
        lines += ["class TestGroup:"]
        for i in range(20):
            lines += [f"    def test_m_{i}(self):", "        assert True", ""]
        (root / f"test_f{f:02d}.py").write_text("\n".join(lines))
        total += 100
    return total


def _conf(home: Path) -> Path:
    conf = home / "tmux.conf"
    conf.write_text(
        f"set -g default-shell {shutil.which('bash')}\n"
        f'set-environment -g HOME "{home}"\nset -g status off\n'
    )
    (home / ".bash_profile").write_text("PS1='$ '\n")
    return conf


def _floor(root: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=root,
                          capture_output=True, text=True, check=False)  # fmt: skip
    took = time.perf_counter() - t0
    last = [x for x in proc.stdout.splitlines() if re.search(r" in [\d.]+s", x)][-1]
    return took, last


async def _ours(root: Path, conf: Path, state: Path, total: int) -> tuple[list[float], list[float]]:
    for name in ("DATA", "STATE", "CACHE", "CONFIG"):
        os.environ[f"XDG_{name}_HOME"] = str(state / name.lower())
    from orchflow_core.api import dispatch
    from orchflow_core.core import Core
    from orchflow_core.registry import load_methods

    load_methods()
    core = Core({"tmux": {"config_file": str(conf)}}, project_root=root)
    await core.start()

    async def one() -> float:
        t0 = time.perf_counter()
        ok, started = await dispatch(core, "test.run", {"cwd": str(root)})
        assert ok, started
        ok, res = await dispatch(core, "test.results", {"run_id": started["run_id"], "wait_s": 600})
        took = time.perf_counter() - t0
        assert ok and res["state"] == "passed" and res["passed"] == total, res
        return took

    floor_s: list[float] = []
    ours_s: list[float] = []
    try:
        await one()  # makes the test pane
        for _ in range(N):
            took, summary = await asyncio.to_thread(_floor, root)
            assert summary.startswith(f"{total} passed"), summary
            floor_s.append(took)
            ours_s.append(await one())
        return floor_s, ours_s
    finally:
        await core.close()


def run() -> list[Row]:
    socket = f"orchflow-bench-{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix="orchflow-bench-testing-"))
    root = home / "suite"
    root.mkdir()
    total = make_suite(root)
    conf = _conf(home)
    saved = dict(os.environ)
    os.environ["ORCHFLOW_TMUX_SOCKET"] = socket
    try:
        floor_s, ours_s = asyncio.run(_ours(root, conf, home / "state", total))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from tests.harness.tmux import kill_socket_processes

        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        kill_socket_processes(socket)
        shutil.rmtree(home, ignore_errors=True)
    return [
        Row(
            f"test.run -> results, {total}-test pytest suite",
            median(ours_s) * 1000,
            "ms",
            median(floor_s) * 1000,
            "`python -m pytest -q` of the same suite",
            "<= 1.1x",
        ),
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
    sys.exit(0)
