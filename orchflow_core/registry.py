"""Import every method module so its handlers register in ``api.METHODS``.

Method modules import their heavy dependencies (aiosqlite, tmux client,
ripgrep runner) inside the handlers, so loading them all stays cheap.
"""

from __future__ import annotations

import importlib

METHOD_MODULES = (
    "orchflow_core.system",
    "orchflow_core.terminal.methods",
    "orchflow_core.history.methods",
)


def load_methods() -> None:
    for name in METHOD_MODULES:
        importlib.import_module(name)
