"""The ``agent_sessions`` rows (orchestrator/schema.py): what resuming an AI agent needs.

One row per AI agent, written as it changes: made at ``agent.create`` (ACP and terminal),
``session_id`` once the agent's session is open (ACP ``session/new`` or ``session/load``)
or a vendor hook's payload named one (terminal agents: Claude and Gemini send
``session_id``), ``load_session`` when its ``initialize`` answered, ``ended_*`` when it
exited or failed on its own, ``stopped_at`` at ``agent.stop``. A restarted orchestrator
starts again the ACP rows that have neither ``stopped_at`` nor ``ended_state`` (they were
live when it stopped or crashed) and shows the ended ones as they ended.

Writes are queued and applied in order by one task (callers on the event loop, some of
them synchronous notification callbacks, never wait for SQLite); ``flush()`` waits for
the queue, ``close()`` drains it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from orchflow_core.errors import OrchflowError
from orchflow_core.store.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionRow:
    id: str
    name: str
    agent: str
    transport: str
    cwd: str
    session: str | None
    worktree: dict[str, Any] | None
    session_id: str | None
    load_session: bool | None
    created_at: float
    stopped_at: float | None
    ended_state: str | None
    ended_reason: str | None

    @property
    def live(self) -> bool:
        """Live when the orchestrator last ran: neither stopped nor ended on its own."""
        return self.stopped_at is None and self.ended_state is None


def _row(r: Any) -> SessionRow:
    worktree = json.loads(r["worktree"]) if r["worktree"] else None
    return SessionRow(
        id=r["id"],
        name=r["name"],
        agent=r["agent"],
        transport=r["transport"],
        cwd=r["cwd"],
        session=r["session"],
        worktree=worktree if isinstance(worktree, dict) else None,
        session_id=r["session_id"],
        load_session=None if r["load_session"] is None else bool(r["load_session"]),
        created_at=r["created_at"],
        stopped_at=r["stopped_at"],
        ended_state=r["ended_state"],
        ended_reason=r["ended_reason"],
    )


class SessionStore:
    """The repository of ``agent_sessions`` (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...]] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    # -- reads -----------------------------------------------------------------------
    async def rows(self, *, transport: str | None = None) -> list[SessionRow]:
        """Every row not stopped (oldest first), of ``transport`` when given."""
        await self.flush()
        sql = "SELECT * FROM agent_sessions WHERE stopped_at IS NULL"
        params: tuple[Any, ...] = ()
        if transport is not None:
            sql += " AND transport = ?"
            params = (transport,)
        return [_row(r) for r in await self._db.fetchall(sql + " ORDER BY created_at", params)]

    async def get(self, agent_id: str) -> SessionRow | None:
        await self.flush()
        r = await self._db.fetchone("SELECT * FROM agent_sessions WHERE id = ?", (agent_id,))
        return _row(r) if r is not None else None

    # -- writes (queued, in order) -----------------------------------------------------
    def _put(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._drain(), name="agent-sessions"
            )
        self._queue.put_nowait((sql, params))

    async def _drain(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                sql, params = item
                try:
                    await self._db.execute(sql, params)
                except OrchflowError as exc:  # resuming this agent later may not work
                    log.error("agent_sessions: could not record a change: %s", exc.message)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until the writes queued so far are in the database."""
        if self._worker is not None and not self._worker.done():
            await self._queue.join()

    def created(
        self,
        *,
        agent_id: str,
        name: str,
        agent: str,
        transport: str,
        cwd: str,
        session: str | None,
        worktree: dict[str, Any] | None,
        created_at: float,
    ) -> None:
        """A new agent (or one restarted under its id: its row starts again live)."""
        self._put(
            "INSERT INTO agent_sessions(id, name, agent, transport, cwd, session, worktree,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET stopped_at = NULL, ended_state = NULL,"
            " ended_reason = NULL, updated_at = excluded.updated_at",
            (
                agent_id,
                name,
                agent,
                transport,
                cwd,
                session,
                json.dumps(worktree) if worktree else None,
                created_at,
                time.time(),
            ),
        )

    def session_opened(self, agent_id: str, session_id: str, load_session: bool | None) -> None:
        self._put(
            "UPDATE agent_sessions SET session_id = ?, load_session = coalesce(?, load_session),"
            " updated_at = ? WHERE id = ?",
            (session_id, load_session, time.time(), agent_id),
        )

    def live_again(self, agent_id: str) -> None:
        """Restarted: no longer ended."""
        self._put(
            "UPDATE agent_sessions SET ended_state = NULL, ended_reason = NULL, updated_at = ?"
            " WHERE id = ?",
            (time.time(), agent_id),
        )

    def ended(self, agent_id: str, state: str, reason: str | None) -> None:
        self._put(
            "UPDATE agent_sessions SET ended_state = ?, ended_reason = ?, updated_at = ?"
            " WHERE id = ? AND stopped_at IS NULL",
            (state, reason, time.time(), agent_id),
        )

    def stopped(self, agent_id: str) -> None:
        """``agent.stop``: never started again by a restarted orchestrator."""
        now = time.time()
        self._put(
            "UPDATE agent_sessions SET stopped_at = ?, updated_at = ? WHERE id = ?",
            (now, now, agent_id),
        )

    async def close(self) -> None:
        """Apply what is queued, then stop the writer."""
        if self._worker is not None and not self._worker.done():
            self._queue.put_nowait(None)
            await self._worker
