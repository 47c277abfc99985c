"""Neovim start-up with orchflow installed against without it, in the same run.

Runs are interleaved (A, B, A, B ...) so machine noise hits both sides alike.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Row, isolated_env, median, nvim_binary

RUNS = 40

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
    return [
        Row(
            "nvim --headless +qa, orchflow on rtp",
            median(samples["with"]),
            "ms",
            base,
            "same command, init without orchflow",
            "<= 1.03x",
        ),
        Row(
            "nvim --headless +qa, orchflow + setup({})",
            median(samples["with_setup"]),
            "ms",
            base,
            "same command, init without orchflow",
            "<= 1.03x",
        ),
    ]
