"""The orchestrator's own SQLite file (``<state dir>/orchestrator.db``) and its migrations.

Kept apart from ``orchflow.db`` (the core's sessions, panes and history, shared with the
Neovim host) so each schema evolves on its own; both go through ``orchflow_core.store``
(WAL, 0600, numbered migrations). Memory lives in its own file too (``memory.db``,
``orchestrator/memory.py``).

``agents`` (migration 1; dropped by migration 2) - the panes the orchestrator made as
    agents. An agent is now a pane with ``meta`` ``{"agent": true, "source": ...}`` in
    ``orchflow.db``'s ``panes`` table (doc/architecture.md, "One model"). Agents recorded
    only here before the upgrade stay in tmux and in ``panes`` as plain typed panes.

``saved_sessions`` - snapshots made by ``session.save``.
    name        TEXT PK   the saved session's name
    saved_at    REAL
    panes       TEXT      JSON list of {type, name, cwd, command, last_command, agent_type}
"""

from __future__ import annotations

from pathlib import Path

from orchflow_core.store.database import Database
from orchflow_core.store.migrations import Migration

DB_NAME = "orchestrator.db"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "orchestrator: agents, saved sessions",
        (
            """CREATE TABLE agents (
                id          TEXT PRIMARY KEY,
                type        TEXT NOT NULL,
                name        TEXT NOT NULL,
                command     TEXT NOT NULL,
                source      TEXT,
                cwd         TEXT NOT NULL,
                session     TEXT NOT NULL,
                created_at  REAL NOT NULL
            )""",
            """CREATE TABLE saved_sessions (
                name        TEXT PRIMARY KEY,
                saved_at    REAL NOT NULL,
                panes       TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "orchestrator: agents are panes with meta in orchflow.db; drop agents",
        ("DROP TABLE agents",),
    ),
)


async def open_state_db(state_dir: Path) -> Database:
    """Open (creating and migrating) ``state_dir/orchestrator.db``."""
    return await Database.open(state_dir / DB_NAME, migrations=MIGRATIONS)
