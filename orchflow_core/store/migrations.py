"""The one orchflow schema, as numbered migrations applied in order.

``PRAGMA user_version`` is the schema version (the authority; it lives in the file header
and changes inside the migration's transaction). ``schema_migrations`` keeps a readable log
of what was applied when. Each migration runs in its own ``BEGIN IMMEDIATE`` transaction and
re-reads the version inside it, so two processes opening a new file at once apply it once.
A migration never changes after release: add a new one.

Tables (times are Unix seconds as REAL, UTC):

``sessions`` - workspaces orchflow created; tmux is the truth for what is alive.
    name            TEXT PK   orchflow's session name (renames cascade to panes)
    backend         TEXT      'tmux' or another mux backend's name
    backend_id      TEXT?     the backend's own id (tmux ``$3``), NULL if not started
    cwd             TEXT?     working directory new panes start in
    created_at      REAL
    updated_at      REAL
    closed_at       REAL?     NULL while the session is open
    metadata        TEXT      JSON object for backend- or feature-specific extras

``panes`` - every pane orchflow made, live or closed (the ``@orchflow_id`` tmux tag).
    orchflow_id     TEXT PK   stable id, survives tmux restarts and pane-id reuse
    session         TEXT      -> sessions.name (ON DELETE CASCADE, ON UPDATE CASCADE)
    backend_pane_id TEXT?     tmux ``%7``; NULL once closed or before creation
    name            TEXT?     user-visible name
    type            TEXT      'terminal', 'shell', 'agent', 'test', 'repl', ... (manager's enum)
    cwd             TEXT?
    command         TEXT?     what the pane was started with
    state           TEXT      lifecycle state, owned by the manager's transition table
    exit_code       INTEGER?  set when the pane's process exits
    created_at      REAL
    closed_at       REAL?
    metadata        TEXT      JSON object

``history`` - one row per command run through orchflow (or imported).
    id, command, cwd?, pane_type?, exit_code? (NULL = unknown, e.g. imported),
    duration_s?, ts, source ('orchflow', 'bash', 'zsh', 'fish', 'json')

``history_frecency`` - one row per (scope, command); see orchflow_core/history/frecency.py.
    cwd             TEXT      '' = all directories, else the directory the runs were in
    command, runs, failures, last_ts, last_exit_code?, score (time-invariant log score,
    indexed so top-N is an index walk)

``history_meta`` - key/value settings the stored scores depend on (half-life, weights).

Migration 2 adds to ``panes``:
    last_command    TEXT?     the last command run or typed in the pane (a Run's text)
    owner           TEXT?     who made the pane: 'host:<pid>' or 'orchestrator:<pid>'
and the ``runs`` table - every command orchflow ran or saw typed in a pane it started
(doc/architecture.md, "Who writes what").
    id              TEXT PK   a uuid hex; for a shell-integrated pane
                              '<orchflow_id>-<shell pid>-<shell seq>', the same id for every
                              process that sees the shell's marks, so a run is stored once
    pane            TEXT      the pane's orchflow_id (kept after the pane closes: no FK)
    pane_id         TEXT?     tmux ``%7`` at the time
    command         TEXT      as typed
    cwd             TEXT?
    source          TEXT      'run' | 'typed' | 'agent'
    state           TEXT      'running' | 'finished' | 'cancelled' | 'lost' (runs/state.py)
    started_at      REAL
    finished_at     REAL?
    exit_code       INTEGER?  NULL while running or when no code could be known
    duration_s      REAL?

Migration 3 adds ``protocol_rules`` - rules added with ``protocol.add`` (orchflow_core/protocol):
    id TEXT PK, pattern, kind ('shell' | 'regex'), action ('block' | 'confirm' | 'warn'),
    message, origins / pane_types / modes (newline-separated; '' = any), created_at
and ``protocol_meta`` (key, value INTEGER): 'generation' counts changes to the rules, so
every process re-reads them after another one added or removed one.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from orchflow_core.errors import UnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_LOG_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  REAL NOT NULL
)"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema: sessions, panes, history, history_frecency",
        (
            """CREATE TABLE sessions (
                name        TEXT PRIMARY KEY,
                backend     TEXT NOT NULL,
                backend_id  TEXT,
                cwd         TEXT,
                created_at  REAL NOT NULL,
                updated_at  REAL NOT NULL,
                closed_at   REAL,
                metadata    TEXT NOT NULL DEFAULT '{}'
            )""",
            """CREATE TABLE panes (
                orchflow_id     TEXT PRIMARY KEY,
                session         TEXT NOT NULL
                                REFERENCES sessions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                backend_pane_id TEXT,
                name            TEXT,
                type            TEXT NOT NULL,
                cwd             TEXT,
                command         TEXT,
                state           TEXT NOT NULL,
                exit_code       INTEGER,
                created_at      REAL NOT NULL,
                closed_at       REAL,
                metadata        TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX panes_session ON panes(session)",
            "CREATE INDEX panes_backend_pane_id ON panes(backend_pane_id)",
            """CREATE TABLE history (
                id          INTEGER PRIMARY KEY,
                command     TEXT NOT NULL,
                cwd         TEXT,
                pane_type   TEXT,
                exit_code   INTEGER,
                duration_s  REAL,
                ts          REAL NOT NULL,
                source      TEXT NOT NULL DEFAULT 'orchflow'
            )""",
            "CREATE INDEX history_ts ON history(ts)",
            "CREATE INDEX history_command ON history(command)",
            """CREATE TABLE history_frecency (
                cwd             TEXT NOT NULL,
                command         TEXT NOT NULL,
                runs            INTEGER NOT NULL,
                failures        INTEGER NOT NULL,
                last_ts         REAL NOT NULL,
                last_exit_code  INTEGER,
                score           REAL NOT NULL,
                PRIMARY KEY (cwd, command)
            ) WITHOUT ROWID""",
            "CREATE INDEX history_frecency_rank ON history_frecency(cwd, score DESC)",
            """CREATE TABLE history_meta (
                key     TEXT PRIMARY KEY,
                value   TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "runs; panes.last_command and panes.owner",
        (
            "ALTER TABLE panes ADD COLUMN last_command TEXT",
            "ALTER TABLE panes ADD COLUMN owner TEXT",
            """CREATE TABLE runs (
                id          TEXT PRIMARY KEY,
                pane        TEXT NOT NULL,
                pane_id     TEXT,
                command     TEXT NOT NULL,
                cwd         TEXT,
                source      TEXT NOT NULL,
                state       TEXT NOT NULL,
                started_at  REAL NOT NULL,
                finished_at REAL,
                exit_code   INTEGER,
                duration_s  REAL
            )""",
            "CREATE INDEX runs_pane ON runs(pane, started_at DESC)",
            "CREATE INDEX runs_started ON runs(started_at DESC)",
        ),
    ),
    Migration(
        3,
        "protocol_rules and protocol_meta: rules added with protocol.add",
        (
            """CREATE TABLE protocol_rules (
                id          TEXT PRIMARY KEY,
                pattern     TEXT NOT NULL,
                kind        TEXT NOT NULL,
                action      TEXT NOT NULL,
                message     TEXT NOT NULL,
                origins     TEXT NOT NULL DEFAULT '',
                pane_types  TEXT NOT NULL DEFAULT '',
                modes       TEXT NOT NULL DEFAULT '',
                created_at  REAL NOT NULL
            )""",
            """CREATE TABLE protocol_meta (
                key     TEXT PRIMARY KEY,
                value   INTEGER NOT NULL
            )""",
        ),
    ),
    Migration(
        4,
        "router_feedback: ai.feedback verdicts per project and phrasing",
        (
            """CREATE TABLE router_feedback (
                id          INTEGER PRIMARY KEY,
                project     TEXT NOT NULL,
                phrase      TEXT NOT NULL,
                input       TEXT NOT NULL,
                verdict     TEXT NOT NULL CHECK (verdict IN ('accept', 'edit', 'reject')),
                agent_type  TEXT,
                command     TEXT,
                ts          REAL NOT NULL
            )""",
            "CREATE INDEX router_feedback_project ON router_feedback(project, phrase)",
        ),
    ),
    Migration(
        5,
        "active_modes: the SPARC mode active in each project (mode.activate)",
        (
            """CREATE TABLE active_modes (
                project       TEXT PRIMARY KEY,
                mode          TEXT NOT NULL,
                activated_at  REAL NOT NULL
            )""",
        ),
    ),
    Migration(
        6,
        "module_state, module_trust and template_snapshots: the module system and snapshots",
        (
            """CREATE TABLE module_state (
                name        TEXT PRIMARY KEY,
                enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
                changed_at  REAL NOT NULL
            )""",
            """CREATE TABLE module_trust (
                root        TEXT PRIMARY KEY,
                trusted_at  REAL NOT NULL
            )""",
            """CREATE TABLE template_snapshots (
                id          INTEGER PRIMARY KEY,
                session     TEXT NOT NULL,
                taken_at    REAL NOT NULL,
                windows     INTEGER NOT NULL,
                panes       INTEGER NOT NULL,
                workspace   TEXT NOT NULL
            )""",
            "CREATE INDEX template_snapshots_session ON template_snapshots(session, taken_at)",
        ),
    ),
)


def check_sequence(migrations: Sequence[Migration]) -> None:
    """Versions must be 1, 2, 3 ... with no gap: a gap means a lost migration."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(
                f"migration {migration.name!r} has version {migration.version}, expected {expected}"
            )


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring ``conn``'s database up to the last migration; returns the schema version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). A failing migration is
    rolled back whole and its error propagates; earlier ones stay applied.
    """
    check_sequence(migrations)
    latest = len(migrations)
    _refuse_newer(conn, latest)
    conn.execute(_LOG_TABLE)
    for migration in migrations:
        if current_version(conn) >= migration.version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between our check and our lock.
            if current_version(conn) < migration.version:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
                log.info("applied migration %d: %s", migration.version, migration.name)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    _refuse_newer(conn, latest)
    return current_version(conn)


def _refuse_newer(conn: sqlite3.Connection, latest: int) -> None:
    version = current_version(conn)
    if version > latest:
        raise UnavailableError(
            f"database schema version {version} is newer than this orchflow understands "
            f"(up to {latest}); upgrade orchflow"
        )
