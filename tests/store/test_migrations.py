"""Schema and migrations on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchflow_core.errors import ConflictError, UnavailableError
from orchflow_core.store import MIGRATIONS, Database, Migration, apply_migrations
from orchflow_core.store.migrations import check_sequence


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


async def test_fresh_database_has_the_whole_schema(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with await Database.open(path) as db:
        assert db.schema_version == len(MIGRATIONS)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "panes", "history", "history_frecency", "history_meta", "runs"} <= tables
    assert columns(conn, "panes") == [
        "orchflow_id", "session", "backend_pane_id", "name", "type", "cwd", "command",
        "state", "exit_code", "created_at", "closed_at", "metadata", "last_command", "owner",
    ]  # fmt: skip
    assert columns(conn, "runs") == [
        "id", "pane", "pane_id", "command", "cwd", "source", "state", "started_at",
        "finished_at", "exit_code", "duration_s",
    ]  # fmt: skip
    assert columns(conn, "sessions")[:2] == ["name", "backend"]
    assert columns(conn, "history") == [
        "id", "command", "cwd", "pane_type", "exit_code", "duration_s", "ts", "source",
    ]  # fmt: skip
    plan = " ".join(
        str(r[3])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT command FROM history_frecency WHERE cwd = ''"
            " ORDER BY score DESC LIMIT 20"
        )
    )
    assert "history_frecency_rank" in plan and "TEMP B-TREE" not in plan  # an index walk
    conn.close()


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    for _ in range(3):
        async with await Database.open(path) as db:
            assert db.schema_version == len(MIGRATIONS)
            logged = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
            assert [r[0] for r in logged] == list(range(1, len(MIGRATIONS) + 1))


def test_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    good = Migration(1, "good", ("CREATE TABLE a(x)",))
    bad = Migration(2, "bad", ("CREATE TABLE b(x)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        apply_migrations(conn, [good, bad])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in tables and "b" not in tables
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    fixed = Migration(2, "fixed", ("CREATE TABLE b(x)",))
    assert apply_migrations(conn, [good, fixed]) == 2
    conn.close()


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(UnavailableError, match="newer than this orchflow understands"):
        await Database.open(path)


def test_versions_must_be_contiguous() -> None:
    check_sequence(MIGRATIONS)
    with pytest.raises(ValueError, match="has version 3, expected 2"):
        check_sequence([Migration(1, "a", ()), Migration(3, "c", ())])


async def test_panes_follow_their_session(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "x.db") as db:

        def setup(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO sessions(name, backend, created_at, updated_at)"
                " VALUES ('work', 'tmux', 1, 1)"
            )
            conn.execute(
                "INSERT INTO panes(orchflow_id, session, backend_pane_id, type, state, created_at)"
                " VALUES ('of-1', 'work', '%3', 'shell', 'running', 1)"
            )

        await db.transaction(setup)
        with pytest.raises(ConflictError, match="FOREIGN KEY constraint failed"):
            await db.execute(
                "INSERT INTO panes(orchflow_id, session, type, state, created_at)"
                " VALUES ('of-2', 'nope', 'shell', 'running', 1)"
            )
        await db.execute("UPDATE sessions SET name = 'renamed' WHERE name = 'work'")
        assert (await db.fetchone("SELECT session FROM panes"))[0] == "renamed"  # type: ignore[index]
        await db.execute("DELETE FROM sessions WHERE name = 'renamed'")
        assert await db.fetchall("SELECT * FROM panes") == []
