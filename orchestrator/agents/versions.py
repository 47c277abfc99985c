"""Which version of an agent's program is installed, cheaply (for ``:checkhealth``).

An npm-installed CLI or adapter (``node_modules/.bin/<name>``, how all the shipped agents
install) is read from its package's ``package.json``: no process, no waiting (Gemini CLI
0.61.0 takes about 6 s to answer ``--version``). Any other terminal command is asked
``--version`` with a short timeout, all at once in threads; an ACP command that is not an
npm package is never run (``claude-agent-acp`` has no ``--version`` and would start serving
ACP). Nothing here raises: a version that cannot be had is None, or says why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_S = 2.0  # for one ``--version``
MAX_LINE = 80
MAX_WORKERS = 4


def npm_version(executable: str) -> str | None:
    """``<package> <version>`` of the npm package ``executable`` belongs to, if it is one
    (its real path lies under ``node_modules``)."""
    real = Path(os.path.realpath(executable))
    if "node_modules" not in real.parts:
        return None
    for directory in real.parents:
        if directory.name == "node_modules":
            return None
        manifest = directory / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text("utf-8"))
            except (OSError, ValueError):
                return None
            name, version = data.get("name"), data.get("version")
            if isinstance(name, str) and isinstance(version, str):
                return f"{name} {version}"
            return None
    return None


def cli_version(executable: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """The first line ``executable --version`` prints, or why there is none."""
    try:
        proc = subprocess.Popen(
            [executable, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its children go with it on a timeout
        )
    except OSError as exc:
        return f"unknown ({exc.strerror or exc})"
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"unknown (no answer to --version within {timeout_s:g} s)"
    lines = [line.strip() for line in out.decode("utf-8", "replace").splitlines()]
    first = next((line for line in lines if line), "")
    if proc.returncode != 0 or not first:
        return f"unknown (--version exited {proc.returncode})"
    return first[:MAX_LINE]


def add_versions(agents: list[dict[str, Any]], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Give each entry of ``registry.installed()`` ``versions: {transport: str | None}``."""
    asks: dict[str, str] = {}  # executable -> how to learn its version
    for agent in agents:
        for transport, path in agent["transports"].items():
            if path and transport == "terminal":
                asks[path] = "terminal"  # a TUI answers --version
            elif path:
                asks.setdefault(path, "acp")
    found = {path: npm_version(path) for path in asks}
    run = [p for p, how in asks.items() if found[p] is None and how == "terminal"]
    if run:
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(run))) as pool:
            answers = pool.map(lambda p: cli_version(p, timeout_s=timeout_s), run)
            found.update(zip(run, answers, strict=True))
    for agent in agents:
        agent["versions"] = {t: found.get(p) if p else None for t, p in agent["transports"].items()}
