"""The SQL of resource locks (the ``locks`` table, orchestrator/schema.py migration 7).

Writes come as a batch of operations (lock_journal.py collects them in order) applied in
one transaction: ``Put`` stores a lock as it is now (granted, renewed, relabelled or moved
to another owner key), ``Delete`` forgets one (released, expired, its owner gone).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from orchflow_core.store.database import Database


@dataclass(frozen=True, slots=True)
class Put:
    lock_id: str
    resource: str
    mode: str
    owner: str
    owner_label: str
    acquired_at: float
    expires_at: float
    lease_s: float


@dataclass(frozen=True, slots=True)
class Delete:
    lock_id: str


Op = Put | Delete


@dataclass(frozen=True, slots=True)
class StoredLock:
    """One row as a restarted orchestrator reads it."""

    lock_id: str
    resource: str
    mode: str
    owner: str
    owner_label: str
    acquired_at: float
    expires_at: float
    lease_s: float


_PUT = (
    "INSERT OR REPLACE INTO locks (lock_id, resource, mode, owner, owner_label, acquired_at,"
    " expires_at, lease_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class LockRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def apply(self, ops: Sequence[Op]) -> None:
        """Every operation, in order, in one transaction (one worker hop)."""

        def write(conn: sqlite3.Connection) -> None:
            for op in ops:
                if isinstance(op, Put):
                    conn.execute(
                        _PUT,
                        (
                            op.lock_id,
                            op.resource,
                            op.mode,
                            op.owner,
                            op.owner_label,
                            op.acquired_at,
                            op.expires_at,
                            op.lease_s,
                        ),
                    )
                else:
                    conn.execute("DELETE FROM locks WHERE lock_id = ?", (op.lock_id,))

        await self.db.transaction(write)

    async def load(self) -> list[StoredLock]:
        rows = await self.db.fetchall(
            "SELECT lock_id, resource, mode, owner, owner_label, acquired_at, expires_at,"
            " lease_s FROM locks ORDER BY acquired_at"
        )
        return [StoredLock(*tuple(row)) for row in rows]
