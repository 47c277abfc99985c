"""Shared helpers: timing statistics, isolated environments, the result table."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    """One figure: ``value`` against ``floor`` (same unit, same run) and the goal."""

    name: str
    value: float
    unit: str
    floor: float | None = None
    floor_name: str = ""
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def nvim_binary() -> str:
    local = Path(sys.executable).parent / "nvim"
    return str(local) if local.exists() else "nvim"


def isolated_env() -> dict[str, str]:
    """XDG dirs in a temp dir, so no user config or state leaks into a measurement."""
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-"))
    env = dict(os.environ)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        (base / name.lower()).mkdir()
        env[f"XDG_{name}_HOME"] = str(base / name.lower())
    env["XDG_RUNTIME_DIR"] = str(base / "runtime")
    (base / "runtime").mkdir(mode=0o700)
    env["ORCHFLOW_CONFIG"] = str(base / "config" / "orchflow.toml")
    env["ORCHFLOW_TEST_PYTHON"] = sys.executable
    return env


def spawn_editor(env: dict[str, str], *, cwd: Path | None = None) -> Any:
    """A headless Neovim with orchflow (tests/minimal_init.lua) in ``env``, started in ``cwd``.

    pynvim's child session inherits os.environ and the working directory, so both are
    set for the spawn only.
    """
    import pynvim

    argv = [nvim_binary(), "--embed", "--headless", "-n", "-i", "NONE",
            "-u", str(ROOT / "tests" / "minimal_init.lua")]  # fmt: skip
    old_env, old_cwd = dict(os.environ), os.getcwd()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    try:
        return pynvim.attach("child", argv=argv)
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def sidecar_env(name: str, config_toml: str) -> tuple[Path, dict[str, str], str]:
    """(base, env, tmux socket) for a Neovim whose sidecar orchestrator is the benchmark's
    own: a temp base with runtime/state/log directories, its own tmux socket, and a
    config.toml holding ``config_toml``."""
    base = Path(tempfile.mkdtemp(prefix=f"orchflow-bench-{name}-"))
    env = isolated_env()
    socket = f"orchflow-bench-{name}-{os.getpid()}"
    for sub in ("runtime", "state", "log"):
        (base / sub).mkdir(mode=0o700)
    config = Path(env["ORCHFLOW_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(config_toml)
    env.update(
        ORCHFLOW_TMUX_SOCKET=socket,
        ORCHFLOW_RUNTIME_DIR=str(base / "runtime"),
        ORCHFLOW_STATE_DIR=str(base / "state"),
        ORCHFLOW_LOG_DIR=str(base / "log"),
    )
    return base, env, socket


def print_table(rows: list[Row]) -> None:
    header = f"{'benchmark':<52} {'value':>12} {'floor':>12} {'ratio':>7}  {'target'}"
    print(header)
    print("-" * len(header))
    for r in rows:
        floor = f"{r.floor:.3f} {r.unit}" if r.floor is not None else ""
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.name:<52} {r.value:>9.3f} {r.unit:<2} {floor:>12} {ratio:>7}  {r.target}")
        if r.floor_name:
            print(f"{'':<6}floor: {r.floor_name}")
