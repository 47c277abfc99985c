"""Import every method module so its handlers register in ``api.METHODS``.

Method modules import their heavy dependencies (aiosqlite, tmux client,
ripgrep runner) inside the handlers, so loading them all stays cheap.
"""

from __future__ import annotations

import importlib
import json

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
    "orchflow_core.router.methods",
    "orchflow_core.modes.methods",
    "orchflow_core.modules.methods",
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
    "ai.route": "orchflow_core.router.methods",
    "ai.feedback": "orchflow_core.router.methods",
    "ai.complete": "orchflow_core.remote.methods",
    "ai.cancel": "orchflow_core.remote.methods",
    "ai.providers": "orchflow_core.remote.methods",
    "mode.": "orchflow_core.modes.methods",
    "module.": "orchflow_core.modules.methods",
}


def builtin_modules() -> dict[str, str]:
    """The built-in modules' method prefixes -> the entry that registers them, read from their
    manifest.json (the test runner and templates are modules: orchflow_core/modules/)."""
    from orchflow_core.modules.discovery import BUILTIN_PACKAGES, builtin_folders

    out: dict[str, str] = {}
    for package, folder in zip(BUILTIN_PACKAGES, builtin_folders(), strict=True):
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        entry = f"{package}.{str(data['entry']).removesuffix('.py')}"
        for method in data.get("contributes", {}).get("methods", []):
            out[method] = entry
    return out


def load_methods() -> None:
    """Register every method now (the orchestrator lists them all)."""
    for name in (*METHOD_MODULES, *dict.fromkeys(builtin_modules().values())):
        importlib.import_module(name)


def load_methods_lazily() -> None:
    """Register the cheap system methods now and the rest on first use (the Neovim host)."""
    from orchflow_core.api import METHODS

    importlib.import_module("orchflow_core.system")
    for prefix, module in {**LAZY_PREFIXES, **builtin_modules()}.items():
        METHODS.lazy(prefix, module)
