"""Persistent state: one SQLite file (WAL, 0600) behind aiosqlite, with migrations.

db = await Database.open(paths.state_dir() / "orchflow.db")
await db.transaction(lambda conn: conn.execute("INSERT ..."))  # one worker hop
"""

from __future__ import annotations

from orchflow_core.store.database import DEFAULT_BUSY_TIMEOUT_MS, Database
from orchflow_core.store.migrations import MIGRATIONS, Migration, apply_migrations

__all__ = ["DEFAULT_BUSY_TIMEOUT_MS", "MIGRATIONS", "Database", "Migration", "apply_migrations"]
