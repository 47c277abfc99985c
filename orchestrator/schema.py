"""The orchestrator's own SQLite file (``<state dir>/orchestrator.db``) and its migrations.

Kept apart from ``orchflow.db`` (the core's sessions, panes and history, shared with the
Neovim host) so each schema evolves on its own; both go through ``orchflow_core.store``
(WAL, 0600, numbered migrations). Memory lives in its own file too (``memory.db``,
``orchestrator/memory.py``).

``agents`` (migration 1; dropped by migration 2) - the panes the orchestrator made as
    agents. An agent is now a pane with ``meta`` ``{"agent": true, "source": ...}`` in
    ``orchflow.db``'s ``panes`` table (doc/architecture.md, "One model"); ``open_state_db``
    carries the rows of a version-1 file into that meta before migration 2 drops the table.

``saved_sessions`` - snapshots made by ``session.save``.
    name        TEXT PK   the saved session's name
    saved_at    REAL
    panes       TEXT      JSON list of {type, name, cwd, command, last_command, agent_type}

``schedules`` (migration 3) - ``schedule.add``: one row per named schedule.
    name, cron, tz, command, cwd, pane_type, on_missed, overlap, created_at
    last_due_at REAL      the latest due time handled (fired, queued or skipped): what a
                          restarted orchestrator compares with now to find missed runs

``schedule_firings`` (migration 3) - every firing of a schedule, with its run.
    id TEXT PK, schedule, due_at, fired_at, state (queued, running, finished, cancelled,
    lost, skipped, error), reason, run_id (the run in ``orchflow.db``), pane_id,
    exit_code, finished_at

``schedules.job_spec`` (migration 5) - NULL for a command job; for a prompt or swarm job the
    JSON ``{kind, swarm, prompt, agent}`` (``swarm``: the ``swarm.submit`` params each firing
    runs; ``command`` then holds a label)

``review_comments`` (migration 6) - ``review.comment``: a comment on a line of an agent's
    worktree, kept until ``review.send`` delivered it (so a restarted orchestrator still
    has it). id INTEGER PK (the comment's id), agent_id (the agent's orchflow id),
    agent_name, path (repository-relative), line, text, created_at, sent_at (NULL: not
    sent yet; set once the prompt with it was delivered). An agent's rows go when its
    review is finished.

``swarms`` (migration 4) - ``swarm.submit``: id TEXT PK, name, strategy, max_parallel,
    state (running, succeeded, failed, cancelled), reason, created_at, finished_at

``swarm_tasks`` (migration 4) - one row per task (after its strategy was expanded):
    (swarm_id, id) PK, position, spec (JSON: the checked task), state (pending, running,
    backoff, succeeded, failed, lost, cancelled, skipped), attempts, host, exit_code, reason,
    handle (JSON: where its current attempt runs, for a restarted orchestrator), started_at,
    finished_at, output_tail (its last lines), output_path (the file with its output)

``swarm_attempts`` (migration 4) - every attempt of a task:
    (swarm_id, task_id, n) PK, handle, started_at, finished_at, ending (exited, timed_out,
    killed, lost, error), exit_code, reason, output_tail

``agent_sessions`` (migration 8) - one row per AI agent whose conversation can be resumed
    (orchestrator/agents/session_store.py): ACP agents (their ``session/load`` id) and
    terminal agents (the vendor session id a hook payload gave).
    id TEXT PK (the agent's id, kept by ``agent.restart``), name, agent (registry name),
    transport ('acp' | 'terminal'), cwd, session (tmux session), worktree (JSON meta or
    NULL), session_id (ACP or vendor session id, NULL until known), load_session (the
    agent's ``initialize`` offered ``loadSession``: 1/0, NULL until known), created_at,
    updated_at, stopped_at (``agent.stop``; NULL while the agent is the user's),
    ended_state / ended_reason (it exited or failed on its own; NULL while live): rows
    with neither are started again by a restarted orchestrator
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from orchflow_core.store.database import Database
from orchflow_core.store.migrations import Migration

log = logging.getLogger(__name__)

DB_NAME = "orchestrator.db"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "orchestrator: agents, saved sessions",
        (
            """CREATE TABLE agents (
                id          TEXT PRIMARY KEY,
                type        TEXT NOT NULL,
                name        TEXT NOT NULL,
                command     TEXT NOT NULL,
                source      TEXT,
                cwd         TEXT NOT NULL,
                session     TEXT NOT NULL,
                created_at  REAL NOT NULL
            )""",
            """CREATE TABLE saved_sessions (
                name        TEXT PRIMARY KEY,
                saved_at    REAL NOT NULL,
                panes       TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "orchestrator: agents are panes with meta in orchflow.db; drop agents",
        ("DROP TABLE agents",),
    ),
    Migration(
        3,
        "orchestrator: schedules and their firings",
        (
            """CREATE TABLE schedules (
                name        TEXT PRIMARY KEY,
                cron        TEXT NOT NULL,
                tz          TEXT NOT NULL,
                command     TEXT NOT NULL,
                cwd         TEXT NOT NULL,
                pane_type   TEXT NOT NULL,
                on_missed   TEXT NOT NULL,
                overlap     TEXT NOT NULL,
                created_at  REAL NOT NULL,
                last_due_at REAL NOT NULL
            )""",
            """CREATE TABLE schedule_firings (
                id          TEXT PRIMARY KEY,
                schedule    TEXT NOT NULL,
                due_at      REAL NOT NULL,
                fired_at    REAL,
                state       TEXT NOT NULL,
                reason      TEXT,
                run_id      TEXT,
                pane_id     TEXT,
                exit_code   INTEGER,
                finished_at REAL
            )""",
            "CREATE INDEX schedule_firings_by_schedule ON schedule_firings (schedule, due_at)",
        ),
    ),
    Migration(
        4,
        "orchestrator: swarms, their tasks and attempts",
        (
            """CREATE TABLE swarms (
                id           TEXT PRIMARY KEY,
                name         TEXT NOT NULL,
                strategy     TEXT NOT NULL,
                max_parallel INTEGER NOT NULL,
                state        TEXT NOT NULL,
                reason       TEXT,
                created_at   REAL NOT NULL,
                finished_at  REAL
            )""",
            """CREATE TABLE swarm_tasks (
                swarm_id    TEXT NOT NULL,
                id          TEXT NOT NULL,
                position    INTEGER NOT NULL,
                spec        TEXT NOT NULL,
                state       TEXT NOT NULL,
                attempts    INTEGER NOT NULL DEFAULT 0,
                host        TEXT,
                exit_code   INTEGER,
                reason      TEXT,
                handle      TEXT,
                started_at  REAL,
                finished_at REAL,
                output_tail TEXT,
                output_path TEXT,
                PRIMARY KEY (swarm_id, id)
            )""",
            """CREATE TABLE swarm_attempts (
                swarm_id    TEXT NOT NULL,
                task_id     TEXT NOT NULL,
                n           INTEGER NOT NULL,
                handle      TEXT,
                started_at  REAL,
                finished_at REAL,
                ending      TEXT,
                exit_code   INTEGER,
                reason      TEXT,
                output_tail TEXT,
                PRIMARY KEY (swarm_id, task_id, n)
            )""",
        ),
    ),
    Migration(
        5,
        "orchestrator: schedules run prompts and swarms too (job_spec)",
        ("ALTER TABLE schedules ADD COLUMN job_spec TEXT",),
    ),
    Migration(
        6,
        "orchestrator: review comments kept until sent",
        (
            """CREATE TABLE review_comments (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                agent_id    TEXT NOT NULL,
                agent_name  TEXT NOT NULL,
                path        TEXT NOT NULL,
                line        INTEGER NOT NULL,
                text        TEXT NOT NULL,
                created_at  REAL NOT NULL,
                sent_at     REAL
            )""",
            "CREATE INDEX review_comments_unsent ON review_comments (agent_id, sent_at)",
        ),
    ),
    Migration(
        7,
        "orchestrator: resource locks, written through (restored after a restart)",
        (
            """CREATE TABLE locks (
                lock_id     TEXT PRIMARY KEY,
                resource    TEXT NOT NULL,
                mode        TEXT NOT NULL,
                owner       TEXT NOT NULL,
                owner_label TEXT NOT NULL,
                acquired_at REAL NOT NULL,
                expires_at  REAL NOT NULL,
                lease_s     REAL NOT NULL
            )""",
            "CREATE INDEX locks_by_owner ON locks (owner)",
        ),
    ),
    Migration(
        8,
        "orchestrator: AI agents' sessions, to resume them (agent.restart, restarts)",
        (
            """CREATE TABLE agent_sessions (
                id           TEXT PRIMARY KEY,
                name         TEXT NOT NULL,
                agent        TEXT NOT NULL,
                transport    TEXT NOT NULL,
                cwd          TEXT NOT NULL,
                session      TEXT,
                worktree     TEXT,
                session_id   TEXT,
                load_session INTEGER,
                created_at   REAL NOT NULL,
                updated_at   REAL NOT NULL,
                stopped_at   REAL,
                ended_state  TEXT,
                ended_reason TEXT
            )""",
        ),
    ),
)


LegacyAgent = dict[str, Any]
Carry = Callable[[list[LegacyAgent]], Awaitable[None]]


async def open_state_db(state_dir: Path, *, carry_agents: Carry | None = None) -> Database:
    """Open (creating and migrating) ``state_dir/orchestrator.db``.

    A file still at version 1 has an ``agents`` table that migration 2 drops: its rows
    (``{id, source}``) are handed to ``carry_agents`` first, which marks those panes as agents
    in ``orchflow.db``. Carried before the drop, so a crash in between only means they are
    carried again (the caller's write is idempotent).
    """
    path = state_dir / DB_NAME
    if carry_agents is not None:
        legacy = await asyncio.to_thread(_legacy_agents, path)
        if legacy:
            await carry_agents(legacy)
    return await Database.open(path, migrations=MIGRATIONS)


def _legacy_agents(path: Path) -> list[LegacyAgent]:
    """The agents rows of a version-1 file ([] for a new, newer or unreadable one)."""
    if not path.is_file():
        return []
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error:
        return []
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != 1:
            return []
        rows = conn.execute("SELECT id, source FROM agents").fetchall()
    except sqlite3.Error as exc:
        log.warning("cannot read the agents of %s to carry them over: %s", path, exc)
        return []
    finally:
        conn.close()
    return [{"id": r[0], "source": r[1]} for r in rows]
