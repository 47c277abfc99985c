"""Import every method module so its handlers register in ``api.METHODS``.

Method modules import their heavy dependencies (aiosqlite, tmux client,
ripgrep runner) inside the handlers, so loading them all stays cheap.
"""

from __future__ import annotations

import importlib

METHOD_MODULES = (
    "orchflow_core.system",
    "orchflow_core.terminal.methods",
    "orchflow_core.pane_lines",
    "orchflow_core.history.methods",
    "orchflow_core.remote.methods",
    "orchflow_core.search.methods",
    "orchflow_core.files.methods",
    "orchflow_core.git.methods",
    "orchflow_core.protocol.methods",
    "orchflow_core.templates.methods",
    "orchflow_core.router.methods",
    "orchflow_core.testing.methods",
    "orchflow_core.modes.methods",
)


# Which modules register which method prefixes, for loading on first use.
LAZY_PREFIXES = {
    "session.": "orchflow_core.terminal.methods",
    "pane.": "orchflow_core.terminal.methods",
    "run.": "orchflow_core.terminal.methods",
    "pane.last_lines": "orchflow_core.pane_lines",  # moves into terminal.methods later
    "history.": "orchflow_core.history.methods",
    "orchestrator.": "orchflow_core.remote.methods",
    "agent.": "orchflow_core.remote.methods",
    "memory.": "orchflow_core.remote.methods",
    "schedule.": "orchflow_core.remote.methods",
    "lock.": "orchflow_core.remote.methods",
    "swarm.": "orchflow_core.remote.methods",
    "mcp.": "orchflow_core.remote.methods",
    "search.": "orchflow_core.search.methods",
    "files.": "orchflow_core.files.methods",
    "git.": "orchflow_core.git.methods",
    "protocol.": "orchflow_core.protocol.methods",
    "template.": "orchflow_core.templates.methods",
    "ai.route": "orchflow_core.router.methods",
    "ai.feedback": "orchflow_core.router.methods",
    "ai.complete": "orchflow_core.remote.methods",
    "ai.cancel": "orchflow_core.remote.methods",
    "ai.providers": "orchflow_core.remote.methods",
    "test.": "orchflow_core.testing.methods",
    "mode.": "orchflow_core.modes.methods",
}


def load_methods() -> None:
    """Register every method now (the orchestrator lists them all)."""
    for name in METHOD_MODULES:
        importlib.import_module(name)


def load_methods_lazily() -> None:
    """Register the cheap system methods now and the rest on first use (the Neovim host)."""
    from orchflow_core.api import METHODS

    importlib.import_module("orchflow_core.system")
    for prefix, module in LAZY_PREFIXES.items():
        METHODS.lazy(prefix, module)
