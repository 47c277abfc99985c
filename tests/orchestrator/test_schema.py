"""orchestrator.db migrations on real files: a file made by migration 1 upgrades in place."""

from __future__ import annotations

from pathlib import Path

from orchestrator.schema import DB_NAME, MIGRATIONS, open_state_db
from orchflow_core.store.database import Database


async def test_migration_2_drops_agents_and_keeps_saved_sessions(tmp_path: Path) -> None:
    old = await Database.open(tmp_path / DB_NAME, migrations=MIGRATIONS[:1])
    await old.execute(
        "INSERT INTO agents(id, type, name, command, source, cwd, session, created_at)"
        " VALUES ('a1', 'dev', 'srv', 'cat', NULL, '/', 'work', 0)"
    )
    await old.execute(
        "INSERT INTO saved_sessions(name, saved_at, panes) VALUES ('work', 1.0, '[]')"
    )
    await old.close()
    db = await open_state_db(tmp_path)
    try:
        tables = {
            r["name"]
            for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert "agents" not in tables and "saved_sessions" in tables
        assert [dict(r) for r in await db.fetchall("SELECT name FROM saved_sessions")] == [
            {"name": "work"}
        ]
        version = (await db.fetchone("PRAGMA user_version"))[0]  # type: ignore[index]
        assert version == len(MIGRATIONS)
    finally:
        await db.close()
