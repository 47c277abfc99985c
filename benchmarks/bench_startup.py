"""Neovim start-up with orchflow installed against without it, in the same run.

Runs are interleaved (A, B, A, B ...) so machine noise hits both sides alike, and the
figure is the baseline plus the median of the paired differences: on this VM a whole
start-up drifts by 20 ms between rounds while orchflow's share is under 1 ms, so
comparing two medians taken over different moments mostly measures the drift.
A second row reads orchflow's own cost from ``nvim --startuptime`` (CPU time spent
sourcing plugin/orchflow.lua and what it requires), which no scheduling noise touches.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Row, isolated_env, median, nvim_binary

RUNS = 60

WITHOUT = "-- baseline: an init with no plugins\n"
WITH = f"""vim.opt.runtimepath:prepend({str(ROOT)!r})
"""
WITH_SETUP = (
    WITH
    + "vim.api.nvim_create_autocmd('VimEnter', {callback = function() end})\n"
    + ("require('orchflow').setup({})\n")
)


def _time(nvim: str, init: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([nvim, "--headless", "-u", str(init), "-i", "NONE", "+qa"], env=env, check=True)
    return (time.perf_counter() - t0) * 1000


def run() -> list[Row]:
    nvim, env = nvim_binary(), isolated_env()
    d = Path(tempfile.mkdtemp(prefix="orchflow-bench-init-"))
    inits = {}
    for name, text in (("without", WITHOUT), ("with", WITH), ("with_setup", WITH_SETUP)):
        inits[name] = d / f"{name}.lua"
        inits[name].write_text(text)
    for init in inits.values():  # warm the page cache
        _time(nvim, init, env)
    samples: dict[str, list[float]] = {k: [] for k in inits}
    for _ in range(RUNS):
        for name, init in inits.items():
            samples[name].append(_time(nvim, init, env))
    base = median(samples["without"])

    def paired(name: str) -> float:
        return base + median(
            [a - b for a, b in zip(samples[name], samples["without"], strict=True)]
        )

    return [
        Row(
            "nvim --headless +qa, orchflow on rtp",
            paired("with"),
            "ms",
            base,
            "same command, init without orchflow (paired rounds)",
            "<= 1.03x",
        ),
        Row(
            "nvim --headless +qa, orchflow + setup({})",
            paired("with_setup"),
            "ms",
            base,
            "same command, init without orchflow (paired rounds)",
            "<= 1.03x",
        ),
        Row(
            "  orchflow's share of start-up (--startuptime)",
            _sourcing_ms(nvim, inits["with_setup"], env),
            "ms",
            base,
            "whole start-up, without orchflow",
        ),
    ]


def _sourcing_ms(nvim: str, init: Path, env: dict[str, str]) -> float:
    """Median over 10 runs of the time --startuptime books to orchflow's files."""
    runs = []
    for _ in range(10):
        with tempfile.NamedTemporaryFile(suffix=".log") as log:
            subprocess.run(
                [
                    nvim,
                    "--headless",
                    "-u",
                    str(init),
                    "-i",
                    "NONE",
                    "--startuptime",
                    log.name,
                    "+qa",
                ],
                env=env,
                check=True,
            )
            runs.append(_orchflow_self_ms(Path(log.name).read_text()))
    return median(runs)


def _orchflow_self_ms(log: str) -> float:
    """Sum of the "self" column for lines that source or require orchflow's files
    (columns: clock, self+sourced, self: what)."""
    total = 0.0
    for line in log.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and "orchflow" in parts[3] and parts[2].endswith(":"):
            total += float(parts[2].rstrip(":"))
    return total
