"""Loaded by Python at start-up when this directory is on PYTHONPATH: the host a
benchmark starts counts its tmux commands (benchmarks/tmux_counter.py)."""

import benchmarks.tmux_counter  # noqa: F401
