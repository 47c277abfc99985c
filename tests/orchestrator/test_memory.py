"""MemoryStore against real SQLite files in tmp_path (and a real process killed with SIGKILL).

Time is an injected ``ManualClock`` (a plain callable, not a mock) so TTL tests never sleep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import memory
from orchestrator.memory import MemoryStore, fts_match_expression, query_terms
from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class ManualClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "memory.db"


@pytest.fixture
async def mem(db_path: Path, clock: ManualClock) -> AsyncIterator[MemoryStore]:
    async with await MemoryStore.open(db_path, clock=clock) as store:
        yield store


async def test_store_and_get_round_trip_text_and_json(mem: MemoryStore, clock: ManualClock) -> None:
    text = await mem.store("greeting", "hello world", metadata={"by": "agent-1"})
    assert text["value"] == "hello world"
    assert text["metadata"] == {"by": "agent-1"}
    assert text["namespace"] == "default"
    assert text["created_at"] == clock.now and text["expires_at"] is None

    await mem.store("config", {"port": 5432, "hosts": ["a", "b"]})
    assert (await mem.get("config"))["value"] == {"port": 5432, "hosts": ["a", "b"]}
    # A string that looks like JSON stays a string.
    await mem.store("raw", '{"a": 1}')
    assert (await mem.get("raw"))["value"] == '{"a": 1}'


async def test_upsert_replaces_value_and_keeps_created_at(
    mem: MemoryStore, clock: ManualClock
) -> None:
    first = await mem.store("k", "one")
    clock.now += 5
    second = await mem.store("k", "two", metadata={"v": 2})
    assert second["value"] == "two" and second["metadata"] == {"v": 2}
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] == first["updated_at"] + 5
    assert await mem.count() == 1


async def test_get_missing_names_key_and_namespace(mem: MemoryStore) -> None:
    with pytest.raises(NotFoundError, match=r"no memory key 'nope' in namespace 'proj'") as info:
        await mem.get("nope", namespace="proj")
    assert info.value.data == {"key": "nope", "namespace": "proj"}


async def test_delete_reports_whether_it_removed(mem: MemoryStore) -> None:
    await mem.store("k", "v")
    assert await mem.delete("k") is True
    assert await mem.delete("k") is False
    with pytest.raises(NotFoundError):
        await mem.get("k")


async def test_namespaces_isolate(mem: MemoryStore) -> None:
    await mem.store("db", "postgres on alpha", namespace="alpha")
    await mem.store("db", "sqlite on beta", namespace="beta")
    assert (await mem.get("db", namespace="alpha"))["value"] == "postgres on alpha"
    assert (await mem.get("db", namespace="beta"))["value"] == "sqlite on beta"
    with pytest.raises(NotFoundError):
        await mem.get("db")
    assert [e["value"] for e in await mem.list(namespace="beta")] == ["sqlite on beta"]
    assert await mem.count(namespace="alpha") == 1
    assert await mem.count() == 2
    assert await mem.search("postgres", namespace="beta") == []
    assert [h["namespace"] for h in await mem.search("postgres")] == ["alpha"]
    assert await mem.delete("db", namespace="alpha") is True
    assert (await mem.get("db", namespace="beta"))["value"] == "sqlite on beta"


async def test_list_orders_filters_by_prefix_and_limits(mem: MemoryStore) -> None:
    for key in ["task/2", "task/1", "note/1", "task%/x", "task_3"]:
        await mem.store(key, key)
    assert [e["key"] for e in await mem.list()] == [
        "note/1",
        "task%/x",
        "task/1",
        "task/2",
        "task_3",
    ]
    # LIKE wildcards in a prefix are plain characters.
    assert [e["key"] for e in await mem.list(prefix="task/")] == ["task/1", "task/2"]
    assert [e["key"] for e in await mem.list(prefix="task%")] == ["task%/x"]
    assert [e["key"] for e in await mem.list(prefix="task", limit=2)] == ["task%/x", "task/1"]


async def test_ttl_expiry_hides_and_purges(
    mem: MemoryStore, clock: ManualClock, db_path: Path
) -> None:
    short = await mem.store("short", "ephemeral note", ttl_s=10)
    assert short["expires_at"] == clock.now + 10
    await mem.store("forever", "durable note")
    await mem.store("other", "ephemeral too", ttl_s=10, namespace="x")
    clock.now += 9.9
    assert (await mem.get("short"))["value"] == "ephemeral note"

    clock.now += 0.2
    with pytest.raises(NotFoundError, match="'short' in namespace 'default' has expired"):
        await mem.get("short")
    assert [e["key"] for e in await mem.list()] == ["forever"]
    assert await mem.count() == 1
    assert [h["key"] for h in await mem.search("ephemeral")] == []
    assert await mem.delete("other", namespace="x") is False  # expired counts as absent

    await mem.store("short2", "x", ttl_s=1)
    clock.now += 2
    assert await mem.purge_expired() == 1
    with sqlite3.connect(db_path) as raw:
        keys = sorted(k for (k,) in raw.execute("SELECT key FROM memory_entries"))
    assert keys == ["forever"]


async def test_storing_over_an_expired_entry_starts_it_afresh(
    mem: MemoryStore, clock: ManualClock
) -> None:
    await mem.store("k", "old", ttl_s=1)
    clock.now += 5
    fresh = await mem.store("k", "new")
    assert fresh["created_at"] == clock.now and fresh["expires_at"] is None
    assert (await mem.get("k"))["value"] == "new"


async def test_writes_purge_expired_rows_periodically(
    db_path: Path, clock: ManualClock, tmp_path: Path
) -> None:
    async with await MemoryStore.open(db_path, clock=clock, purge_interval_s=30) as mem:
        await mem.store("gone", "x", ttl_s=1)  # first write purges (nothing yet)
        clock.now += 10
        await mem.store("a", "y")  # within the interval: no purge
        with sqlite3.connect(db_path) as raw:
            assert raw.execute("SELECT count(*) FROM memory_entries").fetchone()[0] == 2
        clock.now += 30
        await mem.store("b", "z")
        with sqlite3.connect(db_path) as raw:
            keys = sorted(k for (k,) in raw.execute("SELECT key FROM memory_entries"))
        assert keys == ["a", "b"]


async def test_fts_ranks_entry_matching_more_terms_first(mem: MemoryStore) -> None:
    await mem.store("n1", "the postgres server restarted overnight")
    await mem.store("n2", "connection pool for postgres is sized at twenty")
    await mem.store("n3", "a connection to redis")
    await mem.store("n4", "unrelated text about tmux panes")
    hits = await mem.search("postgres connection pool")
    assert hits[0]["key"] == "n2"
    assert {h["key"] for h in hits} == {"n1", "n2", "n3"}
    assert all(h["matcher"] == "fts" for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    assert hits[0]["value"] == "connection pool for postgres is sized at twenty"


async def test_fts_searches_keys_and_json_values(mem: MemoryStore) -> None:
    await mem.store("deploy.checklist", {"steps": ["migrate database", "restart workers"]})
    await mem.store("other", "nothing here")
    assert [h["key"] for h in await mem.search("checklist")] == ["deploy.checklist"]
    assert [h["key"] for h in await mem.search("workers")] == ["deploy.checklist"]
    assert [h["key"] for h in await mem.search("restart", limit=1)] == ["deploy.checklist"]


async def test_fuzzy_fallback_finds_typos(mem: MemoryStore) -> None:
    await mem.store("db", "postgres runs on port 5432")
    await mem.store("cache", "redis runs on port 6379")
    hits = await mem.search("postgress")
    assert [h["key"] for h in hits] == ["db"]
    assert hits[0]["matcher"] == "fuzzy" and 80 <= hits[0]["score"] <= 100
    assert [h["key"] for h in await mem.search("reddis", namespace="default")] == ["cache"]
    assert await mem.search("kubernetes") == []


@pytest.mark.parametrize(
    "query",
    ['"', "*", "NEAR(", "-", 'postgres"', "post*", "NEAR(a b", "a AND", "OR", "NOT x",
     "key:value", "^start", "(((", "a + b", "'", "-postgres", "\\", "\u00e9t\u00e9 -"],
)  # fmt: skip
async def test_fts_syntax_characters_never_raise(mem: MemoryStore, query: str) -> None:
    await mem.store("db", "postgres started; NEAR the value of key")
    hits = await mem.search(query)
    assert isinstance(hits, list)


async def test_query_syntax_is_quoted_not_interpreted(mem: MemoryStore) -> None:
    await mem.store("a", "alpha NOT beta")
    await mem.store("b", "gamma")
    # As FTS syntax "alpha NOT beta" would exclude "a"; as quoted terms it matches it.
    assert [h["key"] for h in await mem.search("alpha NOT beta")] == ["a"]
    assert query_terms('NEAR("x" y*) -x') == ["NEAR", "x", "y"]
    assert fts_match_expression(["NEAR", "x"]) == '"NEAR" OR "x"'


@pytest.mark.parametrize("query", ["", "   ", "\n"])
async def test_empty_query_is_invalid(mem: MemoryStore, query: str) -> None:
    with pytest.raises(InvalidArgumentError, match="query must be a non-empty string"):
        await mem.search(query)


async def test_inputs_are_validated_with_named_parameters(mem: MemoryStore) -> None:
    with pytest.raises(InvalidArgumentError, match="key must be a non-empty string"):
        await mem.store("", "v")
    with pytest.raises(InvalidArgumentError, match="namespace must be a non-empty string, not int"):
        await mem.store("k", "v", namespace=7)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="ttl_s must be a positive number"):
        await mem.store("k", "v", ttl_s=-1)
    with pytest.raises(InvalidArgumentError, match="metadata must be a dict"):
        await mem.store("k", "v", metadata=["tag"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="value must be a string or JSON-serialisable"):
        await mem.store("k", object())
    with pytest.raises(InvalidArgumentError, match=r"value is 1048577 bytes; the limit is 1048576"):
        await mem.store("k", "x" * (1024 * 1024 + 1))
    with pytest.raises(InvalidArgumentError, match="limit must be an integer from 1"):
        await mem.list(limit=0)
    assert await mem.count() == 0
    # Exactly at the limit is fine.
    await mem.store("k", "x" * (1024 * 1024))
    assert len((await mem.get("k"))["value"]) == 1024 * 1024


async def test_persists_across_reopen_with_private_files(db_path: Path) -> None:
    async with await MemoryStore.open(db_path) as mem:
        await mem.store("plan", {"step": 3}, namespace="agent-7", metadata={"tag": "t"})
        await mem.store("notes", "remember the milk")
        assert mode_of(db_path) == 0o600
        for suffix in ("-wal", "-shm"):
            assert mode_of(db_path.with_name(db_path.name + suffix)) == 0o600
        assert mode_of(db_path.parent) == 0o700
    async with await MemoryStore.open(db_path) as mem:
        entry = await mem.get("plan", namespace="agent-7")
        assert entry["value"] == {"step": 3} and entry["metadata"] == {"tag": "t"}
        assert [h["key"] for h in await mem.search("milk")] == ["notes"]
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_close_is_idempotent_and_use_after_close_is_unavailable(db_path: Path) -> None:
    mem = await MemoryStore.open(db_path)
    await mem.close()
    await mem.close()
    with pytest.raises(UnavailableError, match="is closed"):
        await mem.get("k")


async def test_a_file_that_is_not_a_database_is_a_backend_error(tmp_path: Path) -> None:
    bogus = tmp_path / "memory.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BackendError, match=r"memory\.db is not usable"):
        await MemoryStore.open(bogus)


async def test_without_fts5_the_store_is_unavailable(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "_fts5_missing", lambda: "no such module: fts5")
    with pytest.raises(UnavailableError, match="memory search needs SQLite's FTS5"):
        await MemoryStore.open(db_path)
    assert not db_path.exists()


async def test_a_newer_schema_is_refused(db_path: Path) -> None:
    async with await MemoryStore.open(db_path):
        pass
    with closing(sqlite3.connect(db_path)) as raw:
        raw.execute("PRAGMA user_version = 2")
    with pytest.raises(UnavailableError, match="schema version 2 is newer"):
        await MemoryStore.open(db_path)


# The schema and set-up of memory.db as written before it used migrations, frozen here on
# purpose: files made by that code must keep opening (MEMORY_MIGRATIONS version 1 is it).
PRE_MIGRATIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory_entries (
    id          INTEGER PRIMARY KEY,
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('text', 'json')),
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    expires_at  REAL,
    UNIQUE (namespace, key)
);
CREATE INDEX IF NOT EXISTS memory_entries_expires ON memory_entries (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5 (
    key, value, content='memory_entries', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS memory_entries_ai AFTER INSERT ON memory_entries BEGIN
    INSERT INTO memory_fts (rowid, key, value) VALUES (new.id, new.key, new.value);
END;
CREATE TRIGGER IF NOT EXISTS memory_entries_ad AFTER DELETE ON memory_entries BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, key, value)
        VALUES ('delete', old.id, old.key, old.value);
END;
CREATE TRIGGER IF NOT EXISTS memory_entries_au AFTER UPDATE ON memory_entries BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, key, value)
        VALUES ('delete', old.id, old.key, old.value);
    INSERT INTO memory_fts (rowid, key, value) VALUES (new.id, new.key, new.value);
END;
"""


def make_pre_migrations_file(path: Path, rows: list[tuple[object, ...]]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = NORMAL")
        raw.executescript(f"BEGIN; {PRE_MIGRATIONS_SCHEMA} PRAGMA user_version = 1; COMMIT;")
        raw.executemany(
            "INSERT INTO memory_entries (namespace, key, value, kind, metadata, created_at,"
            " updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    path.chmod(0o600)


def memory_schema(path: Path) -> dict[str, str]:
    with closing(sqlite3.connect(path)) as raw:
        found = raw.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'memory%'")
        return {name: " ".join(sql.split()) for name, sql in found if sql}


async def test_a_file_made_before_migrations_opens_with_its_data(
    db_path: Path, clock: ManualClock, tmp_path: Path
) -> None:
    now = clock.now
    make_pre_migrations_file(
        db_path,
        [
            ("default", "db", "postgres runs on port 5432", "text", "{}", now, now, None),
            ("agent-7", "plan", '{"step": 3}', "json", '{"tag": "t"}', now - 9, now, None),
            ("default", "old", "soon gone", "text", "{}", now, now, now + 10),
        ],
    )
    async with await MemoryStore.open(db_path, clock=clock) as mem:
        plan = await mem.get("plan", namespace="agent-7")
        assert plan["value"] == {"step": 3} and plan["metadata"] == {"tag": "t"}
        assert plan["created_at"] == now - 9
        assert [(h["key"], h["matcher"]) for h in await mem.search("postgres")] == [("db", "fts")]
        # The old file's triggers keep the index in sync with writes made by this code.
        await mem.store("db", "sqlite with WAL")
        await mem.store("new", "fresh postgres note")
        assert [h["key"] for h in await mem.search("postgres")] == ["new"]
        clock.now += 11
        assert await mem.purge_expired() == 1
        assert await mem.count() == 3
    with closing(sqlite3.connect(db_path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    # A file made now has exactly the schema the old code made.
    fresh = tmp_path / "fresh" / "memory.db"
    async with await MemoryStore.open(fresh):
        pass
    assert memory_schema(fresh) == memory_schema(db_path)
    assert len(memory_schema(fresh)) == 10  # table, index, fts + its 4 shadow tables, 3 triggers


CHILD = """
import asyncio, sys
from orchestrator.memory import MemoryStore

async def main() -> None:
    mem = await MemoryStore.open(sys.argv[1])
    i = 0
    while True:  # write until killed; each line acknowledges one completed store()
        await mem.store(f"k{i}", {"i": i, "text": "entry number %d" % i}, namespace="crash")
        print(f"k{i}", flush=True)
        i += 1

asyncio.run(main())
"""


async def test_acknowledged_writes_survive_sigkill(db_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(db_path),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None
    acked: list[str] = []
    try:
        while len(acked) < 200:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
            assert line, "child exited before acknowledging 200 writes"
            acked.append(line.decode().strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert proc.returncode == -signal.SIGKILL
    async with await MemoryStore.open(db_path) as mem:
        for key in acked:
            entry = await mem.get(key, namespace="crash")
            assert entry["value"]["i"] == int(key[1:])
        assert await mem.count(namespace="crash") >= len(acked)
        hits = await mem.search("entry number", namespace="crash", limit=5)
        assert len(hits) == 5 and all(h["matcher"] == "fts" for h in hits)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_sanitised_match_expression_is_always_valid_fts5(query: str) -> None:
    """Any user text becomes an FTS5 expression SQLite accepts (or no terms at all)."""
    terms = query_terms(query)
    with sqlite3.connect(":memory:") as raw:
        raw.execute("CREATE VIRTUAL TABLE t USING fts5 (k, v)")
        raw.execute("INSERT INTO t VALUES ('alpha', 'beta gamma')")
        if terms:
            raw.execute("SELECT * FROM t WHERE t MATCH ?", (fts_match_expression(terms),))
