"""Start the Neovim host, or say in one line what is missing and how to fix it.

Lua runs ``python -I -c <boot> <plugin_dir> <plugin_root>`` in the plugin root
(lua/orchflow/host.lua): isolated mode puts neither the working directory nor
PYTHONPATH nor user site-packages on ``sys.path``, so nothing in the user's
project is ever imported; the boot code puts ``<plugin_root>`` there and
:func:`boot` the rplugin dir. This module checks that every runtime dependency
can be found (without importing them: that would slow the first call) and then
hands the process to pynvim's host.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Import names of the runtime dependencies in pyproject.toml (the host needs all of them:
# websockets and jsonrpcclient are its link to a sidecar or service orchestrator).
REQUIRED = (
    "pynvim",
    "aiosqlite",
    "websockets",
    "jsonrpcclient",
    "rapidfuzz",
    "platformdirs",
    "orjson",
)

# Extras: import names of what each adds. Only the orchestrator process needs these.
EXTRAS: dict[str, tuple[str, ...]] = {
    "orchestrator": ("prometheus_client", "uvloop", "croniter", "acp"),
    "ray": ("ray",),
}


def missing_modules(names: tuple[str, ...] = REQUIRED) -> list[str]:
    return [name for name in names if importlib.util.find_spec(name) is None]


def extras() -> dict[str, list[str]]:
    """For each extra, the modules it adds that are missing (empty: installed)."""
    return {extra: missing_modules(names) for extra, names in EXTRAS.items()}


def boot(plugin_dir: str, plugin_root: str) -> None:
    missing = missing_modules()
    if missing:
        sys.stderr.write(
            f"orchflow: the Python at {sys.executable} lacks {', '.join(missing)}. "
            f"Fix: run `make install` in {plugin_root} (makes a plugin-local .venv), "
            "or set setup({ python = ... }) to a Python with orchflow installed.\n"
        )
        sys.exit(3)
    import pynvim

    # The rplugin dir first, so its `orchflow` package is the one imported (pynvim would
    # only append it). sys.argv[0] is not a path: pynvim loads every argv entry that
    # is a directory with an __init__.py, relative ones from the cwd.
    sys.path.insert(0, str(Path(plugin_dir).parent))
    sys.argv = ["orchflow host", plugin_dir]
    pynvim.start_host()
