"""TerminalManager: sessions and panes over a MuxBackend, with metadata in SQLite.

The backend (tmux) is the source of truth for what runs; SQLite keeps what
orchflow knows about it (names, types, the command a pane was made for, its
state and last exit code). On start the two are reconciled: panes still alive
are re-attached by their ``@orchflow_id`` (never duplicated), vanished ones are
marked closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Protocol

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from orchflow_core.events import EventBus
from orchflow_core.mux.backend import SPLITS, MuxBackend, PaneInfo, Split
from orchflow_core.mux.keys import Key
from orchflow_core.mux.shell_integration import unwrap_echo
from orchflow_core.store.database import Database
from orchflow_core.terminal.run_tracker import RunTracker
from orchflow_core.terminal.state import PaneEvent, PaneState, transition

log = logging.getLogger(__name__)

DEFAULT_SESSION = "orchflow"


class CommandRecorder(Protocol):
    """Where finished commands go (the history store)."""

    async def add(
        self,
        command: str,
        *,
        cwd: str | None,
        pane_type: str | None,
        exit_code: int | None,
        duration_s: float | None,
    ) -> Any: ...


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
    shell: str = ""  # the integrated shell orchflow started in it ("" = wrapper fallback)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.orchflow_id,
            "pane_id": self.pane_id,
            "session": self.session,
            "name": self.name,
            "type": self.pane_type,
            "cwd": self.cwd,
            "command": self.command,
            "state": self.state.value,
            "exit_code": self.exit_code,
            "last_command": self.last_command,
            "shell_integration": self.shell or None,
        }


class TerminalManager:
    def __init__(
        self,
        backend: MuxBackend,
        db: Database,
        events: EventBus,
        *,
        backend_name: str = "tmux",
        recorder: CommandRecorder | None = None,
    ) -> None:
        self.backend = backend
        self.db = db
        self.events = events
        self.backend_name = backend_name
        self.recorder = recorder
        self.current_session: str | None = None
        self._panes: dict[str, PaneRecord] = {}  # by orchflow_id
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self.run_tracker = RunTracker(self)
        if hasattr(backend, "on_mark"):
            backend.on_mark = self.run_tracker.on_mark

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        await self.backend.start()
        await self.reconcile()
        self._started = True

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.run_tracker.close()
        await self.backend.close()

    async def recover(self) -> dict[str, int]:
        """After the tmux server went away: attach again (a new server if none runs) and
        reconcile, which marks the panes that died with it closed."""
        reconnect = getattr(self.backend, "reconnect", None)
        if reconnect is None:
            raise UnavailableError(f"the {self.backend_name} backend cannot reconnect")
        await reconnect()
        counts = await self.reconcile()
        for oid in [oid for oid, rec in self._panes.items() if rec.state is PaneState.CLOSED]:
            del self._panes[oid]
        return counts

    async def reconcile(self) -> dict[str, int]:
        """Match SQLite's open panes with the backend's live ones; returns counts."""
        live = {p.orchflow_id: p for p in await self.backend.list_panes()}
        sessions = {s.name: s for s in await self.backend.list_sessions()}
        rows = await self.db.fetchall("SELECT * FROM panes WHERE state != 'closed'")
        now = time.time()
        reattached = closed = adopted = 0
        known: set[str] = set()
        for row in rows:
            oid = row["orchflow_id"]
            known.add(oid)
            info = live.get(oid)
            if info is None:
                closed += 1
                gone = self._panes.pop(oid, None)
                if gone is not None:
                    gone.state = PaneState.CLOSED
                    self.events.publish("pane.closed", **gone.to_dict())
                continue
            reattached += 1
            state = PaneState(row["state"])
            state = transition(state, PaneEvent.EXIT if info.dead else PaneEvent.REVIVE)
            if state is PaneState.RUNNING:
                state = PaneState.IDLE  # a run() handle does not survive a restart
            self._panes[oid] = self._record(info, state, row["command"] or info.command)
        for oid, info in live.items():
            if oid not in known:
                adopted += 1
                self._panes[oid] = self._record(
                    info, PaneState.EXITED if info.dead else PaneState.IDLE, info.command
                )

        def write(conn: sqlite3.Connection) -> None:
            for name, s in sessions.items():
                conn.execute(
                    "INSERT INTO sessions(name, backend, backend_id, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " backend_id = excluded.backend_id, updated_at = excluded.updated_at,"
                    " closed_at = NULL",
                    (name, self.backend_name, s.id, now, now),
                )
            conn.execute(
                "UPDATE panes SET state = 'closed', closed_at = ? WHERE state != 'closed'"
                " AND orchflow_id NOT IN (SELECT value FROM json_each(?))",
                (now, json.dumps(list(live))),
            )
            for rec in self._panes.values():
                self._upsert(conn, rec, now)

        await self.db.transaction(write)
        log.info("reconciled: %d re-attached, %d adopted, %d closed", reattached, adopted, closed)
        return {"reattached": reattached, "adopted": adopted, "closed": closed}

    @staticmethod
    def _record(info: PaneInfo, state: PaneState, command: str) -> PaneRecord:
        return PaneRecord(
            orchflow_id=info.orchflow_id,
            pane_id=info.pane_id,
            session=info.session,
            name=info.name,
            pane_type=info.pane_type,
            cwd=info.cwd,
            command=command,
            state=state,
            exit_code=info.exit_code,
            shell=info.shell,
        )

    @staticmethod
    def _upsert(conn: sqlite3.Connection, rec: PaneRecord, now: float) -> None:
        conn.execute(
            "INSERT INTO sessions(name, backend, created_at, updated_at) VALUES (?, 'tmux', ?, ?)"
            " ON CONFLICT(name) DO NOTHING",
            (rec.session, now, now),
        )
        conn.execute(
            "INSERT INTO panes(orchflow_id, session, backend_pane_id, name, type, cwd, command,"
            " state, exit_code, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(orchflow_id) DO UPDATE SET session = excluded.session,"
            " backend_pane_id = excluded.backend_pane_id, name = excluded.name,"
            " state = excluded.state, exit_code = excluded.exit_code, closed_at = NULL",
            (
                rec.orchflow_id,
                rec.session,
                rec.pane_id,
                rec.name,
                rec.pane_type,
                rec.cwd,
                rec.command,
                rec.state.value,
                rec.exit_code,
                now,
            ),
        )

    async def _save(self, rec: PaneRecord) -> None:
        now = time.time()
        await self.db.transaction(lambda conn: self._upsert(conn, rec, now))

    def _set_state(self, rec: PaneRecord, event: PaneEvent) -> None:
        new = transition(rec.state, event)
        if new is not rec.state:
            rec.state = new
            self.events.publish("pane.state", **rec.to_dict())

    # -- sessions ------------------------------------------------------------------
    async def new_session(self, name: str, *, cwd: str | None = None) -> dict[str, Any]:
        _check_name(name, "session")
        if any(s.name == name for s in await self.backend.list_sessions()):
            raise ConflictError(f"session {name!r} exists already", session=name)
        info = await self.backend.create_session(name, cwd=cwd)
        now = time.time()
        await self.db.execute(
            "INSERT INTO sessions(name, backend, backend_id, cwd, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET closed_at = NULL,"
            " backend_id = excluded.backend_id, updated_at = excluded.updated_at",
            (name, self.backend_name, info.id, cwd, now, now),
        )
        self.current_session = name
        self.events.publish("session.created", name=name)
        return {"name": info.name, "id": info.id}

    async def sessions(self) -> list[dict[str, Any]]:
        """Every session with its orchflow panes (fresh from the backend)."""
        live = await self.backend.list_sessions()
        panes = await self.panes()
        return [
            {
                "name": s.name,
                "id": s.id,
                "current": s.name == self.current_session,
                "panes": [p for p in panes if p["session"] == s.name],
            }
            for s in live
        ]

    async def switch_session(self, name: str) -> dict[str, Any]:
        if not any(s.name == name for s in await self.backend.list_sessions()):
            raise NotFoundError(f"no session {name!r}", session=name)
        self.current_session = name
        return {"name": name}

    async def rename_session(self, old: str, new: str) -> dict[str, Any]:
        _check_name(new, "session")
        info = await self.backend.rename_session(old, new)
        await self.db.execute(
            "UPDATE sessions SET name = ?, updated_at = ? WHERE name = ?", (new, time.time(), old)
        )
        for rec in self._panes.values():
            if rec.session == old:
                rec.session = new
        if self.current_session == old:
            self.current_session = new
        self.events.publish("session.renamed", old=old, new=new)
        return {"name": info.name, "id": info.id}

    async def kill_session(self, name: str) -> None:
        await self.backend.kill_session(name)
        now = time.time()
        for rec in [r for r in self._panes.values() if r.session == name]:
            self._set_state(rec, PaneEvent.CLOSE)
            del self._panes[rec.orchflow_id]
            self.events.publish("pane.closed", **rec.to_dict())

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE sessions SET closed_at = ? WHERE name = ?", (now, name))
            conn.execute(
                "UPDATE panes SET state = 'closed', closed_at = ? WHERE session = ?", (now, name)
            )

        await self.db.transaction(write)
        if self.current_session == name:
            self.current_session = None
        self.events.publish("session.closed", name=name)

    async def _session_for_new_pane(self, session: str | None, cwd: str | None) -> str:
        name = session or self.current_session or DEFAULT_SESSION
        if not any(s.name == name for s in await self.backend.list_sessions()):
            if session is not None and session != DEFAULT_SESSION:
                raise NotFoundError(f"no session {session!r}", session=session)
            await self.new_session(name, cwd=cwd)
        self.current_session = name
        return name

    # -- panes ---------------------------------------------------------------------
    async def new_pane(
        self,
        *,
        pane_type: str = "shell",
        command: str | None = None,
        name: str | None = None,
        cwd: str | None = None,
        session: str | None = None,
        split: str = "window",
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if split not in SPLITS:
            raise InvalidArgumentError(
                f"split must be one of {', '.join(SPLITS)}, got {split!r}", param="split"
            )
        _check_name(pane_type, "pane type")
        if name is not None:
            _check_name(name, "pane name")
            if any(r.name == name for r in self._panes.values() if r.state != PaneState.CLOSED):
                raise ConflictError(f"a pane named {name!r} exists already", name=name)
        sess = await self._session_for_new_pane(session, cwd)
        split_kind: Split = split  # type: ignore[assignment]
        info = await self.backend.create_pane(
            sess,
            name=name,
            pane_type=pane_type,
            cwd=cwd,
            env=env,
            command=command,
            split=split_kind,
        )
        rec = self._record(info, PaneState.IDLE, command or "")
        self._panes[rec.orchflow_id] = rec
        await self._save(rec)
        self.events.publish("pane.created", **rec.to_dict())
        return rec.to_dict()

    async def refresh(self) -> None:
        """Pick up panes that died or vanished since we last looked."""
        live = {p.orchflow_id: p for p in await self.backend.list_panes()}
        for oid, rec in list(self._panes.items()):
            info = live.get(oid)
            if info is None:
                self._set_state(rec, PaneEvent.CLOSE)
                del self._panes[oid]
                await self._save(rec)
                self.events.publish("pane.closed", **rec.to_dict())
            elif info.dead and rec.state is not PaneState.EXITED:
                rec.exit_code = info.exit_code
                self._set_state(rec, PaneEvent.EXIT)
                await self._save(rec)
            else:
                rec.pane_id, rec.session = info.pane_id, info.session
        for oid, info in live.items():
            if oid not in self._panes:  # made by another client (the orchestrator)
                rec = self._record(info, PaneState.EXITED if info.dead else PaneState.IDLE, "")
                self._panes[oid] = rec
                await self._save(rec)

    async def panes(self, session: str | None = None) -> list[dict[str, Any]]:
        await self.refresh()
        out = []
        for rec in self._panes.values():
            if session is None or rec.session == session:
                d = rec.to_dict()
                d["last_line"] = await self._last_line(rec)
                out.append(d)
        return sorted(out, key=lambda d: (d["session"], d["pane_id"]))

    async def _last_line(self, rec: PaneRecord) -> str:
        """The last non-blank line on the pane's screen (not its whole scrollback: this runs
        for every pane on each list), with a run() wrapper shown as the command it runs."""
        try:
            text = await self.backend.capture(rec.pane_id, start=0)
        except Exception:  # a pane closing under us has no last line
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return unwrap_echo(lines[-1].rstrip()) if lines else ""

    def records(self) -> list[PaneRecord]:
        """Every open pane orchflow knows, as of the last refresh."""
        return list(self._panes.values())

    def record_by_pane_id(self, pane_id: str) -> PaneRecord | None:
        for rec in self._panes.values():
            if rec.pane_id == pane_id:
                return rec
        return None

    def resolve(self, ref: str) -> PaneRecord:
        """A pane by backend id (%3), orchflow id, or unique name."""
        if not isinstance(ref, str) or not ref:
            raise InvalidArgumentError("a pane reference (name or id) is required", param="pane")
        for rec in self._panes.values():
            if ref in (rec.pane_id, rec.orchflow_id):
                return rec
        named = [r for r in self._panes.values() if r.name == ref]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            ids = ", ".join(r.pane_id for r in named)
            raise ConflictError(f"several panes are named {ref!r}: {ids}", pane=ref)
        known = ", ".join(sorted(r.name or r.pane_id for r in self._panes.values())) or "none"
        raise NotFoundError(f"no pane {ref!r} (panes: {known})", pane=ref)

    async def send(self, ref: str, text: str, *, enter: bool = False) -> dict[str, Any]:
        rec = self.resolve(ref)
        await self.backend.send_text(rec.pane_id, text)
        if enter:  # a key press, not a typed newline: a bracketed paste would keep "\n" as text
            await self.backend.send_keys(rec.pane_id, Key.ENTER)
        return rec.to_dict()

    async def run(self, ref: str, command: str, *, source: str = "run") -> dict[str, Any]:
        """Start ``command`` in the pane; the run's end comes as ``run.finished`` (runs.py)."""
        return await self.run_tracker.run(ref, command, source=source)

    async def focus(self, ref: str) -> dict[str, Any]:
        rec = self.resolve(ref)
        await self.backend.focus_pane(rec.pane_id)
        return rec.to_dict()

    async def close_pane(self, ref: str) -> dict[str, Any]:
        rec = self.resolve(ref)
        await self.backend.close_pane(rec.pane_id)
        self._set_state(rec, PaneEvent.CLOSE)
        del self._panes[rec.orchflow_id]
        await self._save(rec)
        await self.db.execute(
            "UPDATE panes SET closed_at = ? WHERE orchflow_id = ?", (time.time(), rec.orchflow_id)
        )
        self.events.publish("pane.closed", **rec.to_dict())
        return rec.to_dict()


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"{what} must be a non-empty string, got {name!r}", param=what)
    bad = set(name) & set(":.%$'\"\\\n\t")
    if bad:
        raise InvalidArgumentError(
            f"{what} {name!r} contains {''.join(sorted(bad))!r}; use letters, digits, - and _",
            param=what,
        )
