"""The SQL of review comments (table ``review_comments``, orchestrator/schema.py migration 6).

A comment is a row from ``review.comment`` on; ``review.send`` marks the rows it put in
the prompt as sent once the prompt was delivered (``sent_at``), so a comment added while a
send is under way stays unsent, and a send that failed leaves them all unsent. Finishing
an agent's review deletes its rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from orchflow_core.store.database import Database

_COLUMNS = "id, path, line, text, created_at"


class CommentRepository:
    """``db``: the orchestrator's database once it is open (it opens after ready)."""

    def __init__(self, db: Callable[[], Awaitable[Database]]) -> None:
        self._db = db

    async def add(
        self, agent_id: str, agent_name: str, path: str, line: int, text: str
    ) -> dict[str, Any]:
        """The new comment ``{id, path, line, text, created_at}``."""
        now = time.time()

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO review_comments (agent_id, agent_name, path, line, text,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (agent_id, agent_name, path, line, text, now),
            )
            assert cur.lastrowid is not None  # an INSERT into a rowid table
            return cur.lastrowid

        db = await self._db()
        row_id = await db.transaction(write)
        return {"id": row_id, "path": path, "line": line, "text": text, "created_at": now}

    async def unsent(self, agent_id: str) -> list[dict[str, Any]]:
        """The agent's comments not sent yet, oldest first."""
        db = await self._db()
        rows = await db.fetchall(
            f"SELECT {_COLUMNS} FROM review_comments"  # noqa: S608 - fixed names
            " WHERE agent_id = ? AND sent_at IS NULL ORDER BY id",
            (agent_id,),
        )
        return [dict(r) for r in rows]

    async def count_unsent(self, agent_id: str) -> int:
        db = await self._db()
        row = await db.fetchone(
            "SELECT count(*) AS n FROM review_comments WHERE agent_id = ? AND sent_at IS NULL",
            (agent_id,),
        )
        return int(row["n"]) if row is not None else 0

    async def mark_sent(self, ids: list[int]) -> None:
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE review_comments SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                [(now, i) for i in ids],
            )

        db = await self._db()
        await db.transaction(write)

    async def forget(self, agent_id: str) -> None:
        """Every row of the agent (its review is over)."""
        await (await self._db()).execute(
            "DELETE FROM review_comments WHERE agent_id = ?", (agent_id,)
        )
