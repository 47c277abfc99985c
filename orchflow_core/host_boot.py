"""Start the Neovim host, or say in one line what is missing and how to fix it.

Lua runs ``python -c <boot> <plugin_dir> <plugin_root>``; this module checks
that every runtime dependency can be found (without importing them: that would
slow the first call) and then hands the process to pynvim's host.
"""

from __future__ import annotations

import importlib.util
import sys

# Import names of the runtime dependencies in pyproject.toml.
REQUIRED = (
    "pynvim",
    "libtmux",
    "aiosqlite",
    "websockets",
    "jsonrpcclient",
    "rapidfuzz",
    "platformdirs",
    "prometheus_client",
    "orjson",
)


def missing_modules() -> list[str]:
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


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

    # pynvim's host loads every directory with an __init__.py found in argv.
    sys.argv = ["orchflow-host", plugin_dir]
    pynvim.start_host()
