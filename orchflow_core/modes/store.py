"""SQL for the active mode of each project (table ``active_modes``, migration 5)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from orchflow_core.store.database import Database


@dataclass(frozen=True)
class Active:
    project: str
    mode: str
    activated_at: float


class ModeRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, project: str) -> Active | None:
        """The project's active mode. Read on every rules check (and every AI turn), so it
        is kept in memory until anything is committed to the database, by this process or
        another (Database.memo): a set or clear here or in the other process is seen at
        the next read."""

        async def read() -> Active | None:
            row = await self._db.fetchone(
                "SELECT project, mode, activated_at FROM active_modes WHERE project = ?",
                (project,),
            )
            return Active(row[0], row[1], row[2]) if row is not None else None

        return await self._db.memo(("active_modes", project), read)

    async def set(self, project: str, mode: str) -> Active:
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO active_modes(project, mode, activated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(project) DO UPDATE SET mode = excluded.mode,"
                " activated_at = excluded.activated_at",
                (project, mode, now),
            )

        await self._db.transaction(write)
        return Active(project, mode, now)

    async def clear(self, project: str) -> bool:
        def delete(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM active_modes WHERE project = ?", (project,)).rowcount

        return bool(await self._db.transaction(delete))
