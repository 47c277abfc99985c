"""PaneRepository: the ``panes`` and ``sessions`` SQL of the TerminalManager.

Two processes (the Neovim host and the orchestrator) share one ``orchflow.db``; the rule
(doc/architecture.md, "Who writes what") is enforced here, in SQL:

- **creation facts** (type, name, cwd, command, meta, owner, created_at) are written by the
  process that made the pane; an upsert only *fills blanks* in them, so nobody overwrites
  what another process recorded (and the creator still completes a row that a concurrent
  reconcile adopted from tmux tags a moment before the creator's own INSERT);
- **observed facts** (state, exit code, last command, tmux pane id, session, closed) are
  written by whoever observes them, and a known exit code or last command is never erased;
- **adoption** of a live tagged pane with no row is ``INSERT ... ON CONFLICT DO NOTHING``,
  so two processes adopting at once make one row;
- marking the rows of vanished panes closed is an idempotent ``UPDATE``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchflow_core.store.database import Database
from orchflow_core.terminal.state import PaneState


@dataclass(slots=True)
class PaneRecord:
    """What orchflow knows about one pane, beyond what the backend reports."""

    orchflow_id: str
    pane_id: str
    session: str
    name: str
    pane_type: str
    cwd: str
    command: str
    state: PaneState
    exit_code: int | None = None
    last_command: str | None = None
    owner: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: float | None = None
    current_cwd: str | None = None  # where tmux says the pane is now (observed, not stored)
    shell: str = ""  # the integrated shell orchflow started in it ("" = wrapper fallback)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.orchflow_id,
            "pane_id": self.pane_id,
            "session": self.session,
            "name": self.name,
            "type": self.pane_type,
            "cwd": self.cwd,
            "current_cwd": self.current_cwd or self.cwd,
            "command": self.command,
            "state": self.state.value,
            "exit_code": self.exit_code,
            "last_command": self.last_command,
            "owner": self.owner,
            "meta": dict(self.meta),
            "created_at": self.created_at,
            "shell_integration": self.shell or None,
        }


# Creation facts only fill blanks ('' or NULL or '{}'); observed facts update, but a NULL
# never erases a known exit code or last command.
_UPSERT = """
INSERT INTO panes(orchflow_id, session, backend_pane_id, name, type, cwd, command, state,
                  exit_code, created_at, metadata, last_command, owner)
VALUES (:id, :session, :pane_id, :name, :type, :cwd, :command, :state,
        :exit_code, :created_at, :meta, :last_command, :owner)
ON CONFLICT(orchflow_id) DO UPDATE SET
    session = excluded.session,
    backend_pane_id = excluded.backend_pane_id,
    state = excluded.state,
    exit_code = COALESCE(excluded.exit_code, panes.exit_code),
    last_command = COALESCE(excluded.last_command, panes.last_command),
    closed_at = CASE WHEN excluded.state = 'closed' THEN COALESCE(panes.closed_at, :now)
                     ELSE NULL END,
    name = CASE WHEN COALESCE(panes.name, '') = '' THEN excluded.name ELSE panes.name END,
    type = CASE WHEN panes.type = '' THEN excluded.type ELSE panes.type END,
    cwd = CASE WHEN COALESCE(panes.cwd, '') = '' THEN excluded.cwd ELSE panes.cwd END,
    command = CASE WHEN COALESCE(panes.command, '') = '' THEN excluded.command
                   ELSE panes.command END,
    owner = COALESCE(panes.owner, excluded.owner),
    metadata = CASE WHEN panes.metadata = '{}' THEN excluded.metadata ELSE panes.metadata END
"""

_ADOPT = """
INSERT INTO panes(orchflow_id, session, backend_pane_id, name, type, cwd, command, state,
                  exit_code, created_at, metadata, last_command, owner)
VALUES (:id, :session, :pane_id, :name, :type, :cwd, :command, :state,
        :exit_code, :created_at, :meta, :last_command, :owner)
ON CONFLICT(orchflow_id) DO NOTHING
"""


def _params(rec: PaneRecord, now: float) -> dict[str, Any]:
    return {
        "id": rec.orchflow_id,
        "session": rec.session,
        "pane_id": rec.pane_id,
        "name": rec.name,
        "type": rec.pane_type,
        "cwd": rec.cwd,
        "command": rec.command or None,
        "state": rec.state.value,
        "exit_code": rec.exit_code,
        "created_at": rec.created_at if rec.created_at is not None else now,
        "meta": json.dumps(rec.meta),
        "last_command": rec.last_command,
        "owner": rec.owner,
        "now": now,
    }


def record_from_row(row: sqlite3.Row | dict[str, Any]) -> PaneRecord:
    """A record as the row has it (the backend's live facts are applied by the caller)."""
    try:
        meta = json.loads(row["metadata"] or "{}")
    except ValueError:
        meta = {}
    return PaneRecord(
        orchflow_id=row["orchflow_id"],
        pane_id=row["backend_pane_id"] or "",
        session=row["session"],
        name=row["name"] or "",
        pane_type=row["type"],
        cwd=row["cwd"] or "",
        command=row["command"] or "",
        state=PaneState(row["state"]),
        exit_code=row["exit_code"],
        last_command=row["last_command"],
        owner=row["owner"],
        meta=meta if isinstance(meta, dict) else {},
        created_at=row["created_at"],
    )


class PaneRepository:
    """The SQL behind TerminalManager (no tmux here: testable on a bare database)."""

    def __init__(self, db: Database, *, backend_name: str = "tmux") -> None:
        self.db = db
        self.backend_name = backend_name

    # -- reads ---------------------------------------------------------------------
    async def rows(self, orchflow_ids: Iterable[str]) -> dict[str, sqlite3.Row]:
        """The rows (any state) of these panes, by orchflow id."""
        ids = list(orchflow_ids)
        if not ids:
            return {}
        found = await self.db.fetchall(
            "SELECT * FROM panes WHERE orchflow_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        return {r["orchflow_id"]: r for r in found}

    async def open_ids(self) -> list[str]:
        rows = await self.db.fetchall("SELECT orchflow_id FROM panes WHERE state != 'closed'")
        return [r["orchflow_id"] for r in rows]

    # -- writes (each in one transaction) ----------------------------------------------
    def session_row(
        self, conn: sqlite3.Connection, name: str, backend_id: str | None, now: float
    ) -> None:
        conn.execute(
            "INSERT INTO sessions(name, backend, backend_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " backend_id = COALESCE(excluded.backend_id, sessions.backend_id),"
            " updated_at = excluded.updated_at, closed_at = NULL",
            (name, self.backend_name, backend_id, now, now),
        )

    def upsert(self, conn: sqlite3.Connection, rec: PaneRecord, now: float) -> None:
        """Write ``rec``: creation facts fill blanks only, observed facts update."""
        self._upsert(conn, _params(rec, now))

    def _upsert(self, conn: sqlite3.Connection, params: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO sessions(name, backend, created_at, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(name) DO NOTHING",
            (params["session"], self.backend_name, params["now"], params["now"]),
        )
        conn.execute(_UPSERT, params)

    def adopt(self, conn: sqlite3.Connection, rec: PaneRecord, now: float) -> None:
        """A row for a live tagged pane nobody recorded; a no-op if a row exists."""
        conn.execute(
            "INSERT INTO sessions(name, backend, created_at, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(name) DO NOTHING",
            (rec.session, self.backend_name, now, now),
        )
        conn.execute(_ADOPT, _params(rec, now))

    def close_vanished(self, conn: sqlite3.Connection, live_ids: Iterable[str], now: float) -> None:
        """Mark closed every open row whose pane is not in ``live_ids`` (idempotent)."""
        conn.execute(
            "UPDATE panes SET state = 'closed', closed_at = COALESCE(closed_at, ?)"
            " WHERE state != 'closed' AND orchflow_id NOT IN (SELECT value FROM json_each(?))",
            (now, json.dumps(list(live_ids))),
        )

    async def save(self, rec: PaneRecord, now: float) -> None:
        """``upsert`` in its own transaction, of ``rec`` as it is now (not as it may be
        when the database thread gets to it)."""
        params = _params(rec, now)
        await self.db.transaction(lambda conn: self._upsert(conn, params))

    async def set_meta(self, orchflow_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge ``patch`` into the pane's metadata (a null value removes the key)."""

        def write(conn: sqlite3.Connection) -> str:
            conn.execute(
                "UPDATE panes SET metadata = json_patch(metadata, ?) WHERE orchflow_id = ?",
                (json.dumps(patch), orchflow_id),
            )
            row = conn.execute(
                "SELECT metadata FROM panes WHERE orchflow_id = ?", (orchflow_id,)
            ).fetchone()
            return str(row[0]) if row is not None else "{}"

        merged = json.loads(await self.db.transaction(write))
        return merged if isinstance(merged, dict) else {}

    async def new_session(self, name: str, backend_id: str, cwd: str | None, now: float) -> None:
        await self.db.execute(
            "INSERT INTO sessions(name, backend, backend_id, cwd, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET closed_at = NULL,"
            " backend_id = excluded.backend_id, updated_at = excluded.updated_at",
            (name, self.backend_name, backend_id, cwd, now, now),
        )

    async def rename_session(self, old: str, new: str, now: float) -> None:
        """Renames cascade to the panes' rows (ON UPDATE CASCADE). tmux has renamed the
        session already, so a row that still holds ``new`` is a session tmux no longer has
        (killed earlier): it moves aside as ``new~<closed time>``, keeping its closed
        panes' history, instead of making the rename fail after tmux did it."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE sessions SET name = name || '~' || CAST(COALESCE(closed_at, ?) AS TEXT),"
                " closed_at = COALESCE(closed_at, ?) WHERE name = ?",
                (now, now, new),
            )
            conn.execute(
                "UPDATE sessions SET name = ?, updated_at = ? WHERE name = ?", (new, now, old)
            )

        await self.db.transaction(write)

    async def close_session(self, name: str, now: float) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE sessions SET closed_at = ? WHERE name = ?", (now, name))
            conn.execute(
                "UPDATE panes SET state = 'closed', closed_at = COALESCE(closed_at, ?)"
                " WHERE session = ?",
                (now, name),
            )

        await self.db.transaction(write)
