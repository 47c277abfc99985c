"""TerminalManager: sessions and panes over a MuxBackend, with metadata in SQLite.

The backend (tmux) is the source of truth for what runs; SQLite keeps what
orchflow knows about it (names, types, the command a pane was made for, its
state, last exit code and last command, who made it, and free-form ``meta``).
Only this class touches the backend: the orchestrator's agents are panes with
``meta`` (``{"agent": true, ...}``) driven through ``new_pane``, ``get``,
``send``, ``capture``, ``subscribe``, ``set_meta`` and ``close_pane``.

Two processes may run a manager over the same tmux server and the same
``orchflow.db`` (the Neovim host and the orchestrator). The rule they follow
(doc/architecture.md, "Who writes what"; the SQL is in ``repository.py``): the
creating process records a pane's creation facts and tags it in tmux
(``@orchflow_owner``, ``@orchflow_command``); every other process *loads* the
row of a live pane as it is, adopts a live tagged pane that has no row once
(from its tags), and marks the rows of vanished panes closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from orchflow_core.events import Event, EventBus
from orchflow_core.mux.backend import SPLITS, MuxBackend, PaneInfo, Split
from orchflow_core.mux.pane_tags import get_tags, set_tags
from orchflow_core.mux.shell_integration import unwrap_echo
from orchflow_core.mux.stream import DEFAULT_MAX_QUEUE, OutputSubscription
from orchflow_core.store.database import Database
from orchflow_core.terminal.repository import PaneRecord, PaneRepository, record_from_row
from orchflow_core.terminal.run_tracker import RunTracker
from orchflow_core.terminal.state import PaneEvent, PaneState, transition

if TYPE_CHECKING:
    from orchflow_core.mux.scrollback import ScrollbackHit
    from orchflow_core.protocol.book import RuleBook

__all__ = ["DEFAULT_SESSION", "CommandRecorder", "PaneRecord", "TerminalManager"]

log = logging.getLogger(__name__)

DEFAULT_SESSION = "orchflow"
DEFAULT_CAPTURE_LINES = 100
MAX_CAPTURE_LINES = 10_000
MAX_TYPED_LINE = 4096  # the partial line kept per pane for the rules (send without Enter)


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


class TerminalManager:
    def __init__(
        self,
        backend: MuxBackend,
        db: Database,
        events: EventBus,
        *,
        backend_name: str = "tmux",
        recorder: CommandRecorder | None = None,
        owner: str | None = None,
        rules: RuleBook | None = None,
    ) -> None:
        self.backend = backend
        self.rules = rules
        """The rules every command sent or run here crosses (None: no rules, in tests of
        the manager alone); see ``_check_rules``."""
        self._typed: dict[str, str] = {}  # by orchflow_id: text typed since the last Enter
        self.db = db
        self.events = events
        self.backend_name = backend_name
        self.recorder = recorder
        self.owner = owner or f"process:{os.getpid()}"
        """Who this manager is, recorded on the panes it makes: 'host:<pid>' or
        'orchestrator:<pid>' (Core builds it from its role)."""
        self.repo = PaneRepository(db, backend_name=backend_name)
        self.current_session: str | None = None
        self._panes: dict[str, PaneRecord] = {}  # by orchflow_id
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_output: dict[str, float] = {}  # by backend pane id
        self._unsubscribe = events.subscribe(self._on_output, kinds={"pane.output"})
        self._sync_lock = asyncio.Lock()  # one reconcile/refresh at a time
        self._session_lock = asyncio.Lock()  # one default-session creation at a time
        self._local_writes: dict[str, int] = {}  # by orchflow_id: saves made by this process
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
        self._unsubscribe()
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

    def _on_output(self, event: Event) -> None:
        pane_id = event.data.get("pane_id")
        if isinstance(pane_id, str):
            self._last_output[pane_id] = time.time()

    async def reconcile(self) -> dict[str, int]:
        """Match SQLite's panes with the backend's live ones; returns counts.

        A live pane with a row is loaded as the row has it; a live tagged pane with no
        row is adopted once (from its tmux tags); open rows whose pane is gone are
        marked closed. Nothing another process recorded is overwritten.
        """
        async with self._sync_lock:
            return await self._reconcile()

    async def _reconcile(self) -> dict[str, int]:
        live = {p.orchflow_id: p for p in await self.backend.list_panes()}
        sessions = {s.name: s for s in await self.backend.list_sessions()}
        open_ids = set(await self.repo.open_ids())
        for oid in [oid for oid in self._panes if oid not in live]:
            gone = self._panes.pop(oid)
            gone.state = PaneState.CLOSED
            self.events.publish("pane.closed", **gone.to_dict())
        closed = len(open_ids - set(live))
        counts = await self._take_in(live, sessions=sessions, close_vanished=True)
        counts["closed"] = closed
        log.info(
            "reconciled: %d re-attached, %d adopted, %d closed",
            counts["reattached"],
            counts["adopted"],
            closed,
        )
        return counts

    async def _take_in(
        self,
        live: dict[str, PaneInfo],
        *,
        sessions: dict[str, Any] | None = None,
        close_vanished: bool = False,
    ) -> dict[str, int]:
        """Bring every live pane into ``self._panes``: known ones get the backend's facts
        and the rows' observed facts (another process's last command, meta), unknown ones
        are loaded from their row or adopted. Writes only what changed."""
        now = time.time()
        marks = dict(self._local_writes)
        rows = await self.repo.rows(live)
        writes: list[PaneRecord] = []
        adopt: list[PaneRecord] = []
        reattached = 0
        for oid, info in live.items():
            row = rows.get(oid)
            rec = self._panes.get(oid)
            if rec is not None:
                reattached += row is not None
                if row is not None and self._local_writes.get(oid) == marks.get(oid):
                    _merge_observed(rec, row)
                if self._apply_live(rec, info):
                    writes.append(rec)
                continue
            if row is None:
                tags = await get_tags(self.backend, info.pane_id)
                adopt.append(
                    PaneRecord(
                        orchflow_id=oid,
                        pane_id=info.pane_id,
                        session=info.session,
                        name=info.name,
                        pane_type=info.pane_type,
                        cwd=info.cwd,
                        command=tags["command"] or "",
                        state=PaneState.EXITED if info.dead else PaneState.IDLE,
                        exit_code=info.exit_code,
                        owner=tags["owner"],
                        created_at=now,
                        current_cwd=info.cwd,
                    )
                )
                continue
            reattached += 1
            rec = record_from_row(row)
            before = (rec.state, rec.pane_id, rec.session)
            if rec.state is PaneState.CLOSED:  # a live pane marked closed: it is back
                rec.state = PaneState.EXITED if info.dead else PaneState.IDLE
            else:
                rec.state = transition(rec.state, PaneEvent.EXIT if info.dead else PaneEvent.REVIVE)
            self._apply_live(rec, info)
            if before != (rec.state, rec.pane_id, rec.session):
                writes.append(rec)
            if rec.state is PaneState.RUNNING:
                rec.state = PaneState.IDLE  # a run() handle does not survive a restart
            self._panes[oid] = rec

        if writes or adopt or sessions is not None or close_vanished:
            writes = [dataclasses.replace(r) for r in writes]  # as they are now, not later
            for rec in writes:
                self._local_writes[rec.orchflow_id] = self._local_writes.get(rec.orchflow_id, 0) + 1

            def write(conn: sqlite3.Connection) -> None:
                for name, s in (sessions or {}).items():
                    self.repo.session_row(conn, name, s.id, now)
                if close_vanished:
                    self.repo.close_vanished(conn, live, now)
                for rec in writes:
                    self.repo.upsert(conn, rec, now)
                for rec in adopt:
                    self.repo.adopt(conn, rec, now)

            await self.db.transaction(write)
        if adopt:  # load what is stored now: another process may have inserted first
            stored = await self.repo.rows(rec.orchflow_id for rec in adopt)
            for rec in adopt:
                row = stored.get(rec.orchflow_id)
                loaded = record_from_row(row) if row is not None else rec
                if loaded.state is PaneState.CLOSED:  # the pane is live: not closed
                    loaded.state = PaneState.IDLE
                self._apply_live(loaded, live[rec.orchflow_id])
                self._panes[rec.orchflow_id] = loaded
        return {"reattached": reattached, "adopted": len(adopt)}

    def _apply_live(self, rec: PaneRecord, info: PaneInfo) -> bool:
        """Take the backend's facts into ``rec``; True if a stored fact changed (it died,
        moved to another session or got another tmux pane id)."""
        changed = (rec.pane_id, rec.session) != (info.pane_id, info.session)
        rec.pane_id, rec.session, rec.current_cwd = info.pane_id, info.session, info.cwd
        rec.shell = info.shell or rec.shell  # the @orchflow_shell tag
        if info.dead and rec.state is not PaneState.EXITED:
            rec.exit_code = info.exit_code if info.exit_code is not None else rec.exit_code
            self._set_state(rec, PaneEvent.EXIT)
            changed = True
        return changed

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
            current_cwd=info.cwd,
        )

    async def save_with(
        self, rec: PaneRecord | None, also: Callable[[sqlite3.Connection], None]
    ) -> None:
        """Store ``rec`` (if given) and whatever ``also`` writes, in one transaction."""
        now = time.time()
        if rec is not None:
            self._local_writes[rec.orchflow_id] = self._local_writes.get(rec.orchflow_id, 0) + 1
            snapshot = dataclasses.replace(rec)

        def write(conn: sqlite3.Connection) -> None:
            if rec is not None:
                self.repo.upsert(conn, snapshot, now)
            also(conn)

        await self.db.transaction(write)

    async def _save(self, rec: PaneRecord) -> None:
        # Counted before the write is queued: a refresh whose read of the rows started
        # earlier must not merge that older row over what we just changed.
        self._local_writes[rec.orchflow_id] = self._local_writes.get(rec.orchflow_id, 0) + 1
        await self.repo.save(rec, time.time())

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
        await self.repo.new_session(name, info.id, cwd, time.time())
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
        await self.repo.rename_session(old, new, time.time())
        for rec in self._panes.values():
            if rec.session == old:
                rec.session = new
        if self.current_session == old:
            self.current_session = new
        self.events.publish("session.renamed", old=old, new=new)
        return {"name": info.name, "id": info.id}

    async def kill_session(self, name: str) -> None:
        await self.backend.kill_session(name)
        for rec in [r for r in self._panes.values() if r.session == name]:
            self._set_state(rec, PaneEvent.CLOSE)
            del self._panes[rec.orchflow_id]
            self.events.publish("pane.closed", **rec.to_dict())
        await self.repo.close_session(name, time.time())
        if self.current_session == name:
            self.current_session = None
        self.events.publish("session.closed", name=name)

    async def _session_for_new_pane(self, session: str | None, cwd: str | None) -> str:
        name = session or self.current_session or DEFAULT_SESSION
        # One at a time: two panes made at once with no session yet would both create it.
        async with self._session_lock:
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
        meta: dict[str, Any] | None = None,
        origin: str = "user",
        confirm: str | None = None,
    ) -> dict[str, Any]:
        """A new pane; ``meta`` (a JSON object) is kept with it (``to_dict()["meta"]``).
        A ``command`` crosses the rules first, as ``send`` says (nothing is created if a
        rule refuses it)."""
        if split not in SPLITS:
            raise InvalidArgumentError(
                f"split must be one of {', '.join(SPLITS)}, got {split!r}", param="split"
            )
        _check_name(pane_type, "pane type")
        _check_meta(meta)
        if name is not None:
            _check_name(name, "pane name")
            if any(r.name == name for r in self._panes.values() if r.state != PaneState.CLOSED):
                raise ConflictError(f"a pane named {name!r} exists already", name=name)
        if command is not None and self.rules is not None:
            await self.rules.enforce(
                command,
                origin=origin,
                what="new",
                pane="",  # a token for a new pane is bound to its command alone
                pane_name=f"a new {pane_type} pane",
                pane_type=pane_type,
                confirm=confirm,
            )
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
        rec.owner, rec.meta, rec.created_at = self.owner, dict(meta or {}), time.time()
        if cwd is not None:
            rec.cwd = cwd
        self._panes[rec.orchflow_id] = rec
        try:
            await set_tags(self.backend, info.pane_id, {"owner": self.owner, "command": command})
        except NotFoundError:
            log.info("pane %s was gone before it could be tagged", info.pane_id)
        await self._save(rec)
        self.events.publish("pane.created", **rec.to_dict())
        return rec.to_dict()

    async def respawn(
        self,
        ref: str,
        command: str,
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        origin: str = "user",
    ) -> dict[str, Any]:
        """Run ``command`` in pane ``ref`` again, killing what runs there (an exited pane
        comes back ``idle``): same orchflow id, name and tmux pane. The command crosses the
        rules as ``new_pane``'s does. Needs a backend that can (tmux's respawn-pane)."""
        rec = self.resolve(ref)
        respawn = getattr(self.backend, "respawn_pane", None)
        if respawn is None:
            raise UnavailableError(
                f"the {type(self.backend).__name__} backend cannot run a new command in a "
                "pane (tmux's respawn-pane): close it and make a new one",
                feature="terminals",
            )
        if rec.state is PaneState.CLOSED:
            raise ConflictError(f"pane {rec.name} is closed: nothing to respawn", pane=ref)
        if self.rules is not None:
            await self.rules.enforce(
                command,
                origin=origin,
                what="new",
                pane=rec.orchflow_id,
                pane_name=rec.name or rec.pane_id,
                pane_type=rec.pane_type,
            )
        await respawn(rec.pane_id, command=command, cwd=cwd or rec.cwd, env=env)
        rec.command, rec.exit_code = command, None
        if rec.state is PaneState.EXITED:
            self._set_state(rec, PaneEvent.REVIVE)
        await set_tags(self.backend, rec.pane_id, {"owner": self.owner, "command": command})
        await self._save(rec)
        return rec.to_dict()

    async def refresh(self) -> None:
        """Pick up panes that died or vanished since we last looked, panes another process
        made (loaded from their rows), and what it recorded about ours (last command)."""
        async with self._sync_lock:  # two at once would load one pane into two records
            live = {p.orchflow_id: p for p in await self.backend.list_panes()}
            for oid, rec in list(self._panes.items()):
                if oid not in live:
                    await self._gone(rec)
            await self._take_in(live)

    async def _gone(self, rec: PaneRecord) -> None:
        self._set_state(rec, PaneEvent.CLOSE)
        self._panes.pop(rec.orchflow_id, None)
        await self._save(rec)
        self.events.publish("pane.closed", **rec.to_dict())

    async def panes(
        self, session: str | None = None, *, pane_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Open panes (of ``session`` and ``pane_type`` if given), each with its last line."""
        await self.refresh()
        out = []
        for rec in self.records(pane_type=pane_type):
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
        except NotFoundError:  # a pane closing under us has no last line
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return unwrap_echo(lines[-1].rstrip()) if lines else ""

    def records(
        self, *, pane_type: str | None = None, meta_key: str | None = None
    ) -> list[PaneRecord]:
        """Open panes orchflow knows, as of the last refresh; ``meta_key``: only panes whose
        meta has that key set to a true value (``meta_key="agent"``: the agents)."""
        return [
            rec
            for rec in self._panes.values()
            if (pane_type is None or rec.pane_type == pane_type)
            and (meta_key is None or rec.meta.get(meta_key))
        ]

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

    async def find(self, ref: str) -> PaneRecord:
        """``resolve``, refreshing first if ``ref`` is unknown (another process made it)."""
        try:
            return self.resolve(ref)
        except NotFoundError:
            await self.refresh()
            return self.resolve(ref)

    async def get(self, ref: str, *, observed: bool = True) -> dict[str, Any]:
        """One pane, refreshed from the backend (one round trip) and from its row: state
        ``closed`` if its pane is gone (it is then forgotten), ``exited`` if it died.
        ``observed=False`` skips reading the row (what other processes observed): for a
        caller that only needs to know the pane is alive (agent.send)."""
        rec = await self.find(ref)
        try:
            info: PaneInfo | None = await self.backend.get_pane(rec.pane_id)
        except NotFoundError:
            info = None
        if info is None or info.orchflow_id != rec.orchflow_id:  # gone, or its id reused
            await self._gone(rec)
            return rec.to_dict()
        if self._apply_live(rec, info):
            await self._save(rec)
        if not observed:
            return rec.to_dict()
        mark = self._local_writes.get(rec.orchflow_id)
        row = (await self.repo.rows([rec.orchflow_id])).get(rec.orchflow_id)
        if row is not None and self._local_writes.get(rec.orchflow_id) == mark:
            _merge_observed(rec, row)
        return rec.to_dict()

    def last_output_at(self, ref: str) -> float | None:
        """When the pane last printed (as seen by this process), or None."""
        return self._last_output.get(self.resolve(ref).pane_id)

    async def capture(self, ref: str, *, lines: int = DEFAULT_CAPTURE_LINES) -> str:
        """The pane's last ``lines`` lines of text (screen and scrollback)."""
        if (
            isinstance(lines, bool)
            or not isinstance(lines, int)
            or not 1 <= lines <= MAX_CAPTURE_LINES
        ):
            raise InvalidArgumentError(
                f"lines must be between 1 and {MAX_CAPTURE_LINES}, got {lines!r}", param="lines"
            )
        rec = await self.find(ref)
        text = await self.backend.capture(rec.pane_id, start=-lines)
        return "\n".join(text.split("\n")[-lines:]) if text else ""

    async def subscribe(
        self, ref: str, *, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> OutputSubscription:
        """The pane's live output: what its buffer holds, then everything new."""
        rec = await self.find(ref)
        return await self.backend.subscribe(rec.pane_id, max_queue=max_queue)

    async def search_scrollback(
        self, pattern: str, *, ref: str | None = None, regex: bool = True, ignore_case: bool = False
    ) -> list[ScrollbackHit]:
        """Lines matching ``pattern`` in the scrollback of pane ``ref``, or of every pane."""
        from orchflow_core.mux.scrollback import search_scrollback

        pane_id = (await self.find(ref)).pane_id if ref else None
        return await search_scrollback(
            self.backend, pattern, pane_id=pane_id, regex=regex, ignore_case=ignore_case
        )

    async def set_meta(self, ref: str, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into the pane's meta (None removes a key); returns the pane."""
        _check_meta(values)
        rec = await self.find(ref)
        rec.meta = await self.repo.set_meta(rec.orchflow_id, values)
        return rec.to_dict()

    async def _check_rules(
        self, rec: PaneRecord, text: str, *, what: str, origin: str, confirm: str | None
    ) -> None:
        """The one choke point for rules (orchflow_core/protocol): every command typed or
        run in a pane crosses it. Raises PermissionDeniedError (block, or confirm not
        given); a warning is published as ``rule.warned`` and the command goes ahead."""
        if self.rules is None:
            return
        await self.rules.enforce(
            text,
            origin=origin,
            what=what,
            pane=rec.orchflow_id,
            pane_name=rec.name or rec.pane_id,
            pane_type=rec.pane_type,
            confirm=confirm,
        )

    async def send(
        self,
        ref: str,
        text: str,
        *,
        enter: bool = False,
        origin: str = "user",
        confirm: str | None = None,
    ) -> dict[str, Any]:
        """Type ``text`` (literally) into the pane, then Enter if ``enter``.

        The text is checked against the rules line by line as the shell will read it: with
        what earlier sends typed on the same line without pressing Enter in front, so
        ``rm -rf `` then ``/`` is checked as ``rm -rf /``. ``origin`` (user, agent, swarm,
        schedule, mcp) is who asks; ``confirm`` the token a ``confirm`` rule gave the user.
        """
        rec = self.resolve(ref)
        typed = self._typed.get(rec.orchflow_id, "") + text
        await self._check_rules(
            rec, typed, what=f"send:{int(enter)}", origin=origin, confirm=confirm
        )
        # Enter is a key press, not a typed newline (a raw-mode program gets "\r"), sent in
        # the same tmux round trip as the text
        await self.backend.send_text(rec.pane_id, text, enter=enter)
        rest = "" if enter else typed.replace("\r", "\n").rsplit("\n", 1)[-1]
        if rest:
            self._typed[rec.orchflow_id] = rest[-MAX_TYPED_LINE:]
        else:
            self._typed.pop(rec.orchflow_id, None)
        return rec.to_dict()

    async def run(
        self,
        ref: str,
        command: str,
        *,
        source: str = "run",
        origin: str = "user",
        confirm: str | None = None,
    ) -> dict[str, Any]:
        """Start ``command`` in the pane; the run's end comes as ``run.finished`` (runs.py).
        The rules are checked first (``send`` says how ``origin`` and ``confirm`` count)."""
        rec = self.resolve(ref)
        if isinstance(command, str):
            await self._check_rules(rec, command, what="run", origin=origin, confirm=confirm)
        return await self.run_tracker.run(ref, command, source=source)

    async def focus(self, ref: str) -> dict[str, Any]:
        rec = self.resolve(ref)
        await self.backend.focus_pane(rec.pane_id)
        return rec.to_dict()

    async def close_pane(self, ref: str) -> dict[str, Any]:
        rec = self.resolve(ref)
        await self.backend.close_pane(rec.pane_id)
        await self._gone(rec)
        return rec.to_dict()


def _merge_observed(rec: PaneRecord, row: sqlite3.Row) -> None:
    """Take what another process observed and stored about ``rec`` (the row is at least as
    new as our own writes, which are awaited): last command, exit code, meta."""
    if row["last_command"] is not None:
        rec.last_command = row["last_command"]
    if row["exit_code"] is not None:
        rec.exit_code = row["exit_code"]
    fresh = record_from_row(row)
    rec.meta = fresh.meta
    rec.owner = rec.owner or fresh.owner
    rec.command = rec.command or fresh.command


def _check_meta(meta: dict[str, Any] | None) -> None:
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise InvalidArgumentError(
            f"meta must be an object, got {type(meta).__name__}", param="meta"
        )
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"meta must be JSON: {exc}", param="meta") from None


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"{what} must be a non-empty string, got {name!r}", param=what)
    bad = set(name) & set(":.%$'\"\\\n\t")
    if bad:
        raise InvalidArgumentError(
            f"{what} {name!r} contains {''.join(sorted(bad))!r}; use letters, digits, - and _",
            param=what,
        )
