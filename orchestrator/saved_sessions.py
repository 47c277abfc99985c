"""``session.save`` / ``session.restore``: a tmux session's panes as a snapshot in SQLite.

A snapshot records, per orchflow pane (in pane-id order): its type, name, cwd (where the
pane is now), the command it was made for, the last command run in it, and the agent type
when the pane is an agent. Restoring makes a new tmux session and, for each recorded pane,
a pane of the same type and name in the same cwd, started with the command it was made
for; agents come back as agents. A shell pane's last command is reported, not re-run:
replaying an arbitrary command (``rm -rf build``, ``git push``) on restore would surprise.

Restore refuses (ConflictError) when the target session exists or a recorded pane name is
taken by an open pane, before creating anything.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import ConflictError, NotFoundError
from orchflow_core.store.database import Database
from orchflow_core.terminal.manager import TerminalManager

if TYPE_CHECKING:
    from orchestrator.agents import AgentManager

log = logging.getLogger(__name__)


class SavedSessions:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(
        self, tm: TerminalManager, session: str, *, as_name: str | None = None
    ) -> dict[str, Any]:
        live = await tm.sessions()
        found = next((s for s in live if s["name"] == session), None)
        if found is None:
            names = ", ".join(s["name"] for s in live) or "none"
            raise NotFoundError(f"no session {session!r} (sessions: {names})", session=session)
        # The cwd tmux reports now (the user may have cd'd); the recorded one as a fallback.
        # Commands and last commands are the shared rows' (whichever process ran them).
        panes = [
            {
                "type": p["type"],
                "name": p["name"],
                "cwd": p["current_cwd"] or p["cwd"],
                "command": p["command"] or None,
                "last_command": p["last_command"],
                "agent_type": p["type"] if p["meta"].get("agent") else None,
            }
            for p in found["panes"]
        ]
        name = as_name or session
        now = time.time()
        await self._db.execute(
            "INSERT INTO saved_sessions(name, saved_at, panes) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET saved_at = excluded.saved_at,"
            " panes = excluded.panes",
            (name, now, json.dumps(panes)),
        )
        log.info("saved session %s as %s (%d panes)", session, name, len(panes))
        return {"name": name, "session": session, "saved_at": now, "panes": panes}

    async def list(self) -> list[dict[str, Any]]:
        rows = await self._db.fetchall("SELECT * FROM saved_sessions ORDER BY name")
        return [
            {"name": r["name"], "saved_at": r["saved_at"], "panes": json.loads(r["panes"])}
            for r in rows
        ]

    async def get(self, name: str) -> dict[str, Any]:
        row = await self._db.fetchone("SELECT * FROM saved_sessions WHERE name = ?", (name,))
        if row is None:
            saved = ", ".join(s["name"] for s in await self.list()) or "none"
            raise NotFoundError(f"no saved session {name!r} (saved: {saved})", name=name)
        return {"name": row["name"], "saved_at": row["saved_at"], "panes": json.loads(row["panes"])}

    async def restore(
        self,
        tm: TerminalManager,
        agents: AgentManager,
        name: str,
        *,
        session: str | None = None,
    ) -> dict[str, Any]:
        saved = await self.get(name)
        target = session or name
        if any(s["name"] == target for s in await tm.sessions()):
            raise ConflictError(
                f"session {target!r} exists already; restore into another name with 'session'",
                session=target,
            )
        await tm.refresh()
        taken = {r.name for r in tm.records()}
        clash = [p["name"] for p in saved["panes"] if p["name"] in taken]
        if clash:
            raise ConflictError(
                f"panes named {', '.join(clash)} are open; close them or restore elsewhere later",
                panes=clash,
            )
        first_cwd = saved["panes"][0]["cwd"] if saved["panes"] else None
        await tm.new_session(target, cwd=first_cwd)
        restored: list[dict[str, Any]] = []
        for pane in saved["panes"]:
            if pane.get("agent_type") and pane.get("command"):
                made = await agents.create(
                    pane["agent_type"],
                    name=pane["name"],
                    command=pane["command"],
                    cwd=pane["cwd"],
                    session=target,
                )
                restored.append({**made, "agent": True, "last_command": pane["last_command"]})
            else:
                made = await tm.new_pane(
                    pane_type=pane["type"],
                    command=pane["command"],
                    name=pane["name"],
                    cwd=pane["cwd"],
                    session=target,
                )
                restored.append({**made, "agent": False, "last_command": pane["last_command"]})
        log.info("restored %s into session %s (%d panes)", name, target, len(restored))
        return {"name": name, "session": target, "panes": restored}
