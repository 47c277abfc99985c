"""SQL for the module system: which modules are enabled, which projects are trusted."""

from __future__ import annotations

import time

from orchflow_core.store.database import Database


async def states(db: Database) -> dict[str, bool]:
    rows = await db.fetchall("SELECT name, enabled FROM module_state")
    return {str(r[0]): bool(r[1]) for r in rows}


async def set_enabled(db: Database, name: str, enabled: bool) -> None:
    await db.execute(
        "INSERT INTO module_state(name, enabled, changed_at) VALUES (?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled,"
        " changed_at = excluded.changed_at",
        (name, int(enabled), time.time()),
    )


async def trusted(db: Database, root: str) -> float | None:
    row = await db.fetchone("SELECT trusted_at FROM module_trust WHERE root = ?", (root,))
    return float(row[0]) if row is not None else None


async def trust(db: Database, root: str) -> float:
    now = time.time()
    await db.execute(
        "INSERT INTO module_trust(root, trusted_at) VALUES (?, ?)"
        " ON CONFLICT(root) DO UPDATE SET trusted_at = excluded.trusted_at",
        (root, now),
    )
    return now


async def untrust(db: Database, root: str) -> bool:
    return await db.execute("DELETE FROM module_trust WHERE root = ?", (root,)) > 0
