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
    "orchflow_core.remote.methods",
    "orchflow_core.search.methods",
    "orchflow_core.files.methods",
)


def load_methods() -> None:
    for name in METHOD_MODULES:
        importlib.import_module(name)
