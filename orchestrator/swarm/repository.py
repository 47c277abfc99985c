"""The SQL of swarms (tables in orchestrator/schema.py, migration 4)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from orchflow_core.store.database import Database

TASK_COLUMNS = (
    "state",
    "attempts",
    "host",
    "exit_code",
    "reason",
    "handle",
    "started_at",
    "finished_at",
    "output_tail",
    "output_path",
)


class SwarmRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self, swarm: dict[str, Any], tasks: list[tuple[str, int, dict[str, Any], str]]
    ) -> None:
        """The swarm and all its tasks ``(id, position, spec, state)``: one transaction."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO swarms (id, name, strategy, max_parallel, state, reason,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    swarm["id"],
                    swarm["name"],
                    swarm["strategy"],
                    swarm["max_parallel"],
                    swarm["state"],
                    swarm.get("reason"),
                    swarm["created_at"],
                ),
            )
            conn.executemany(
                "INSERT INTO swarm_tasks (swarm_id, id, position, spec, state)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (swarm["id"], tid, pos, json.dumps(spec), state)
                    for tid, pos, spec, state in tasks
                ],
            )

        await self.db.transaction(write)

    async def update_swarm(
        self, swarm_id: str, state: str, reason: str | None, finished_at: float | None
    ) -> None:
        await self.db.execute(
            "UPDATE swarms SET state = ?, reason = ?, finished_at = ? WHERE id = ?",
            (state, reason, finished_at, swarm_id),
        )

    async def update_task(self, swarm_id: str, task_id: str, values: dict[str, Any]) -> None:
        cols = [c for c in TASK_COLUMNS if c in values]
        sets = ", ".join(f"{c} = ?" for c in cols)
        await self.db.execute(
            f"UPDATE swarm_tasks SET {sets} WHERE swarm_id = ? AND id = ?",  # noqa: S608 - fixed names
            (*(values[c] for c in cols), swarm_id, task_id),
        )

    async def start_attempt(
        self, swarm_id: str, task_id: str, n: int, handle: str | None, started_at: float
    ) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO swarm_attempts (swarm_id, task_id, n, handle, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (swarm_id, task_id, n, handle, started_at),
        )

    async def end_attempt(
        self,
        swarm_id: str,
        task_id: str,
        n: int,
        *,
        ending: str,
        exit_code: int | None,
        reason: str | None,
        output_tail: str | None,
        finished_at: float,
    ) -> None:
        await self.db.execute(
            "UPDATE swarm_attempts SET ending = ?, exit_code = ?, reason = ?, output_tail = ?,"
            " finished_at = ? WHERE swarm_id = ? AND task_id = ? AND n = ?",
            (ending, exit_code, reason, output_tail, finished_at, swarm_id, task_id, n),
        )

    async def swarm(self, swarm_id: str) -> sqlite3.Row | None:
        return await self.db.fetchone("SELECT * FROM swarms WHERE id = ?", (swarm_id,))

    async def tasks(self, swarm_id: str) -> list[sqlite3.Row]:
        return await self.db.fetchall(
            "SELECT * FROM swarm_tasks WHERE swarm_id = ? ORDER BY position", (swarm_id,)
        )

    async def attempts(self, swarm_id: str) -> list[sqlite3.Row]:
        return await self.db.fetchall(
            "SELECT * FROM swarm_attempts WHERE swarm_id = ? ORDER BY task_id, n", (swarm_id,)
        )

    async def running_swarms(self) -> list[sqlite3.Row]:
        return await self.db.fetchall(
            "SELECT * FROM swarms WHERE state = 'running' ORDER BY created_at"
        )

    async def list(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT s.*, (SELECT json_group_object(state, n) FROM (SELECT state, COUNT(*) AS n"
            " FROM swarm_tasks t WHERE t.swarm_id = s.id GROUP BY state)) AS counts"
            " FROM swarms s ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [
            {
                "swarm_id": r["id"],
                "name": r["name"],
                "strategy": r["strategy"],
                "max_parallel": r["max_parallel"],
                "state": r["state"],
                "reason": r["reason"],
                "created_at": r["created_at"],
                "finished_at": r["finished_at"],
                "tasks": json.loads(r["counts"] or "{}"),
            }
            for r in rows
        ]
