"""orchflow_core: the always-available half of orchflow.

tmux sessions and panes, commands, output streams, search, history and state in
SQLite. Importing this package is cheap: heavy modules load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
