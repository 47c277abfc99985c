"""Command history: every command run through orchflow, ranked by frecency.

    history = await HistoryStore.open(db)            # db: orchflow_core.store.Database
    await history.add("make test", cwd="/src", pane_type="shell", exit_code=0, duration_s=2.1)
    await history.top(20)                            # most frecent first

Formula: orchflow_core/history/frecency.py. Methods for Neovim and JSON-RPC:
orchflow_core/history/methods.py (``history.*``).
"""

from __future__ import annotations

from orchflow_core.history.frecency import FrecencyModel
from orchflow_core.history.store import FrecentCommand, HistoryStore, ImportReport

__all__ = ["FrecencyModel", "FrecentCommand", "HistoryStore", "ImportReport"]
