"""Runs: every command orchflow runs in a pane, and every command typed in a pane it started.

A run has one lifecycle table (h11 style)::

    running ──finish──▶ finished      (the shell reported an exit code)
       ├────cancel───▶ cancelled      (run.cancel asked; the shell reported the code, often 130)
       └─────lose────▶ lost           (the pane or its shell went away first: no code)

Where runs come from (``source``):
- ``run``: ``pane.run`` / ``run()`` - orchflow typed the command;
- ``agent``: the same, on behalf of an agent;
- ``typed``: the user typed it in a pane whose shell has orchflow's shell integration.

In a shell-integrated pane a run's id is ``r-<pane id[:8]>-<shell pid>-<seq>``, made from
the shell's own marks, so the host and the orchestrator (which may both read the pane)
store it once; their writes only fill in what is missing, and ``run``/``agent`` win over
``typed`` (doc/architecture.md, "Who writes what"). Wrapper runs (panes without shell
integration) get a random id from the process that issued them.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchflow_core.errors import ConflictError, InvalidArgumentError
from orchflow_core.store.database import Database

SOURCES = ("run", "typed", "agent")
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 1000


class RunState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    LOST = "lost"


class RunEvent(StrEnum):
    FINISH = "finish"
    CANCEL = "cancel"
    LOSE = "lose"


_TABLE: dict[tuple[RunState, RunEvent], RunState] = {
    (RunState.RUNNING, RunEvent.FINISH): RunState.FINISHED,
    (RunState.RUNNING, RunEvent.CANCEL): RunState.CANCELLED,
    (RunState.RUNNING, RunEvent.LOSE): RunState.LOST,
}


def transition(state: RunState, event: RunEvent) -> RunState:
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise ConflictError(
            f"a run that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None


def integrated_run_id(orchflow_id: str, shell_pid: int, seq: int) -> str:
    return f"r-{orchflow_id[:8]}-{shell_pid}-{seq}"


def random_run_id() -> str:
    return f"r-{secrets.token_hex(8)}"


@dataclass(slots=True)
class Run:
    id: str
    pane: str  # the pane's orchflow id
    pane_id: str  # the backend's id (tmux %3) when the run started
    command: str
    cwd: str | None
    source: str
    started_at: float
    state: RunState = RunState.RUNNING
    finished_at: float | None = None
    exit_code: int | None = None
    duration_s: float | None = None
    pane_name: str = ""
    cancel_requested: bool = field(default=False, repr=False)
    # monotonic start, for a duration that does not jump with the wall clock
    started_mono: float = field(default_factory=time.monotonic, repr=False)

    @property
    def done(self) -> bool:
        return self.state is not RunState.RUNNING

    def end(self, event: RunEvent, exit_code: int | None, duration_s: float | None = None) -> None:
        """``duration_s``: as the shell measured it; else the time since orchflow saw the
        start (then the start time moves back by nothing)."""
        self.state = transition(self.state, event)
        self.exit_code = exit_code
        self.finished_at = time.time()
        if duration_s is not None:
            self.duration_s = round(duration_s, 6)
            self.started_at = min(self.started_at, self.finished_at - duration_s)
        else:
            self.duration_s = round(time.monotonic() - self.started_mono, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pane": self.pane,
            "pane_id": self.pane_id,
            "pane_name": self.pane_name,
            "command": self.command,
            "cwd": self.cwd,
            "source": self.source,
            "state": self.state.value,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
        }


_COLUMNS = (
    "id, pane, pane_id, command, cwd, source, state, started_at, finished_at, exit_code, duration_s"
)


class RunStore:
    """The ``runs`` table. Writes are idempotent merges (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, run: Run) -> None:
        await self.db.transaction(lambda conn: self.save_in(conn, run))

    @staticmethod
    def save_in(conn: sqlite3.Connection, run: Run) -> None:
        """``save`` inside a transaction the caller holds."""
        conn.execute(
            f"INSERT INTO runs({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - constant columns
            " ON CONFLICT(id) DO UPDATE SET"
            " source = CASE WHEN excluded.source != 'typed' THEN excluded.source"
            "   ELSE runs.source END,"
            " command = CASE WHEN excluded.source != 'typed' THEN excluded.command"
            "   ELSE runs.command END,"
            " state = CASE WHEN runs.state = 'running' THEN excluded.state ELSE runs.state END,"
            " finished_at = COALESCE(runs.finished_at, excluded.finished_at),"
            " exit_code = COALESCE(runs.exit_code, excluded.exit_code),"
            " duration_s = COALESCE(runs.duration_s, excluded.duration_s)",
            (
                run.id,
                run.pane,
                run.pane_id,
                run.command,
                run.cwd,
                run.source,
                run.state.value,
                run.started_at,
                run.finished_at,
                run.exit_code,
                run.duration_s,
            ),
        )

    async def get(self, run_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS}, (SELECT name FROM panes WHERE orchflow_id = runs.pane)"  # noqa: S608
            " AS pane_name FROM runs WHERE id = ?",
            (run_id,),
        )
        return _row(row) if row is not None else None

    async def list(
        self, *, pane: str | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[dict[str, Any]]:
        check_limit(limit)
        where, args = ("WHERE pane = ?", [pane]) if pane is not None else ("", [])
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS}, (SELECT name FROM panes WHERE orchflow_id = runs.pane)"  # noqa: S608
            f" AS pane_name FROM runs {where} ORDER BY started_at DESC LIMIT ?",
            (*args, limit),
        )
        return [_row(r) for r in rows]

    async def end_running(
        self, run_id: str, exit_code: int | None, duration_s: float | None
    ) -> dict[str, Any] | None:
        """Finish a stored run that is still ``running`` (its start was seen by another
        process, or before a restart); returns it, or None if there is nothing to end."""
        now = time.time()

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE runs SET state = 'finished', exit_code = ?, finished_at = ?,"
                " duration_s = COALESCE(?, ? - started_at) WHERE id = ? AND state = 'running'",
                (exit_code, now, duration_s, now, run_id),
            )
            return cur.rowcount > 0

        if not await self.db.transaction(write):
            return None
        return await self.get(run_id)

    async def lose_running(self, pane: str) -> None:
        """Runs still open in a pane that is gone end as lost."""
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE runs SET state = 'lost', finished_at = ? WHERE pane = ?"
                " AND state = 'running'",
                (now, pane),
            )

        await self.db.transaction(write)


def check_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidArgumentError(
            f"limit must be an integer from 1 to {MAX_LIST_LIMIT}, got {limit!r}", param="limit"
        )
    return limit


def _row(row: Any) -> dict[str, Any]:
    d = dict(row)
    d["pane_name"] = d.get("pane_name") or ""
    return d
