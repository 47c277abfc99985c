"""SQL for template snapshots: the running layout, frozen as a tmuxp workspace, per session."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from orchflow_core.store.database import Database


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": int(r[0]),
        "session": str(r[1]),
        "taken_at": float(r[2]),
        "windows": int(r[3]),
        "panes": int(r[4]),
    }


async def save(
    db: Database, taken_at: float, workspaces: list[dict[str, Any]], *, keep: int
) -> list[int]:
    """Insert one row per session workspace (one sweep) and keep the latest ``keep`` per
    session; returns the new ids."""

    def write(conn: sqlite3.Connection) -> list[int]:
        ids = []
        for ws in workspaces:
            windows = ws["windows"]
            cur = conn.execute(
                "INSERT INTO template_snapshots(session, taken_at, windows, panes, workspace)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    ws["session_name"],
                    taken_at,
                    len(windows),
                    sum(len(w["panes"]) for w in windows),
                    json.dumps(ws),
                ),
            )
            ids.append(int(cur.lastrowid or 0))
            conn.execute(
                "DELETE FROM template_snapshots WHERE session = ? AND id NOT IN (SELECT id FROM"
                " template_snapshots WHERE session = ? ORDER BY taken_at DESC, id DESC LIMIT ?)",
                (ws["session_name"], ws["session_name"], keep),
            )
        return ids

    return await db.transaction(write)


async def listing(db: Database, session: str | None, limit: int) -> list[dict[str, Any]]:
    if session is None:
        rows = await db.fetchall(
            "SELECT id, session, taken_at, windows, panes FROM template_snapshots"
            " ORDER BY taken_at DESC, id DESC LIMIT ?",
            (limit,),
        )
    else:
        rows = await db.fetchall(
            "SELECT id, session, taken_at, windows, panes FROM template_snapshots"
            " WHERE session = ? ORDER BY taken_at DESC, id DESC LIMIT ?",
            (session, limit),
        )
    return [_row(r) for r in rows]


async def workspace(db: Database, snapshot_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    row = await db.fetchone(
        "SELECT id, session, taken_at, windows, panes, workspace FROM template_snapshots"
        " WHERE id = ?",
        (snapshot_id,),
    )
    if row is None:
        raise LookupError(snapshot_id)
    return _row(row), json.loads(row[5])


async def latest_sweep(db: Database, session: str | None) -> list[int]:
    """The ids of the latest sweep (every session snapshotted at that time), or the latest
    snapshot of ``session``."""
    if session is not None:
        row = await db.fetchone(
            "SELECT id FROM template_snapshots WHERE session = ?"
            " ORDER BY taken_at DESC, id DESC LIMIT 1",
            (session,),
        )
        return [int(row[0])] if row else []
    rows = await db.fetchall(
        "SELECT id FROM template_snapshots WHERE taken_at ="
        " (SELECT MAX(taken_at) FROM template_snapshots) ORDER BY id"
    )
    return [int(r[0]) for r in rows]
