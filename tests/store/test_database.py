"""Database: real SQLite files in tmp_path, real threads, a real SIGKILLed child process."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from orchflow_core.errors import (
    BackendError,
    ConflictError,
    InvalidArgumentError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.history import HistoryStore
from orchflow_core.store import Database

REPO = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_open_creates_private_file_and_dir(tmp_path: Path) -> None:
    path = tmp_path / "state" / "orchflow.db"
    async with await Database.open(path) as db:
        await db.execute("CREATE TABLE t(x)")  # forces the WAL and shm files into being
        await db.execute("INSERT INTO t VALUES (1)")
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        wal = path.with_name(path.name + "-wal")
        shm = path.with_name(path.name + "-shm")
        assert wal.exists() and shm.exists()
        assert mode(wal) == 0o600 and mode(shm) == 0o600


async def test_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "orchflow.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    async with await Database.open(path):
        assert mode(path) == 0o600


async def test_pragmas(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "x.db", busy_timeout_ms=1234) as db:
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
        assert (await db.fetchone("PRAGMA synchronous"))[0] == 1  # type: ignore[index]  # NORMAL
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        assert (await db.fetchone("PRAGMA busy_timeout"))[0] == 1234  # type: ignore[index]


async def test_close_is_idempotent_and_closed_db_says_so(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "x.db")
    await db.close()
    await db.close()
    assert db.closed
    with pytest.raises(UnavailableError, match=r"unavailable: database .*x\.db is closed"):
        await db.fetchone("SELECT 1")


async def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="busy_timeout_ms must be >= 0, got -1"):
        await Database.open(tmp_path / "x.db", busy_timeout_ms=-1)
    with pytest.raises(InvalidArgumentError, match="not ':memory:'"):
        await Database.open(":memory:")


async def test_a_file_that_is_not_a_database_is_not_usable(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BackendError, match=r"database .*x\.db is not usable: file is not a"):
        await Database.open(path)


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "x.db") as db:
        await db.execute("CREATE TABLE t(x INTEGER PRIMARY KEY)")

        def insert_then_fail(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await db.transaction(insert_then_fail)
        assert await db.fetchall("SELECT x FROM t") == []
        await db.transaction(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
        # A constraint violation becomes a ConflictError naming the file.
        with pytest.raises(ConflictError, match=r"x\.db: UNIQUE constraint failed: t\.x"):
            await db.transaction(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
        assert [tuple(r) for r in await db.fetchall("SELECT x FROM t")] == [(1,)]


async def test_lock_held_past_busy_timeout_is_a_timeout_error(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with await Database.open(path, busy_timeout_ms=50) as db:
        await db.execute("CREATE TABLE t(x)")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(TimeoutError_, match=r"stayed locked .* more than 50 ms"):
                await db.transaction(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
        finally:
            holder.execute("ROLLBACK")
            holder.close()


async def test_writer_waits_for_a_short_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with await Database.open(path) as db:
        await db.execute("CREATE TABLE t(x)")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO t VALUES ('holder')")
        write = asyncio.ensure_future(
            db.transaction(lambda conn: conn.execute("INSERT INTO t VALUES ('db')"))
        )
        await asyncio.sleep(0.2)
        assert not write.done()  # blocked on the lock, not failed
        holder.execute("COMMIT")
        holder.close()
        await asyncio.wait_for(write, timeout=5)
        rows = [r[0] for r in await db.fetchall("SELECT x FROM t ORDER BY rowid")]
        assert rows == ["holder", "db"]


async def test_two_connections_writing_at_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with await Database.open(path) as one, await Database.open(path) as two:
        first, second = await HistoryStore.open(one), await HistoryStore.open(two)

        async def writer(store: HistoryStore, name: str) -> None:
            for i in range(150):
                await store.add(
                    f"{name} {i % 7}", cwd="/w", pane_type="shell", exit_code=0, duration_s=0.0
                )

        await asyncio.gather(writer(first, "alpha"), writer(second, "beta"))
        assert await first.count() == 300
        totals = await two.fetchall("SELECT cwd, sum(runs) FROM history_frecency GROUP BY cwd")
        assert sorted(tuple(r) for r in totals) == [("", 300), ("/w", 300)]


async def test_committed_rows_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    child = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from orchflow_core.store import Database
        from orchflow_core.history import HistoryStore

        async def main():
            db = await Database.open({str(path)!r})
            history = await HistoryStore.open(db)
            for i in range(200):
                await history.add(f"committed {{i}}", cwd="/c", pane_type="shell",
                                  exit_code=0, duration_s=0.1)
            # An open transaction that never commits: it must vanish with the process.
            await db.run_sync(lambda c: (c.execute("BEGIN IMMEDIATE"),
                c.execute("INSERT INTO history(command, ts) VALUES ('uncommitted', 1.0)")))
            print("ready", flush=True)
            time.sleep(60)

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", child, stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line == b"ready\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert proc.returncode == -signal.SIGKILL
    async with await Database.open(path) as db:
        assert (await db.fetchone("PRAGMA integrity_check"))[0] == "ok"  # type: ignore[index]
        commands = {r[0] for r in await db.fetchall("SELECT command FROM history")}
        assert commands == {f"committed {i}" for i in range(200)}
        top = await (await HistoryStore.open(db)).top(1000)
        assert len(top) == 200 and all(c.runs == 1 for c in top)


async def test_memo_keeps_a_read_until_any_connection_commits(tmp_path: Path) -> None:
    path = tmp_path / "memo.db"
    async with await Database.open(path) as db:
        await db.execute("CREATE TABLE kv(k PRIMARY KEY, v)")
        await db.execute("INSERT INTO kv VALUES ('a', 1)")
        reads = 0

        async def read() -> int:
            nonlocal reads
            reads += 1
            row = await db.fetchone("SELECT v FROM kv WHERE k = 'a'")
            assert row is not None
            return int(row[0])

        assert [await db.memo("a", read) for _ in range(5)] == [1] * 5
        assert reads == 1
        await db.execute("UPDATE kv SET v = 2")  # this process's own connection
        assert await db.memo("a", read) == 2 and reads == 2
        other = sqlite3.connect(path, isolation_level=None)  # another connection (process)
        other.execute("UPDATE kv SET v = 3")
        other.close()
        assert await db.memo("a", read) == 3 and reads == 3
        assert await db.memo("a", read) == 3 and reads == 3
        failed = sqlite3.connect(path, isolation_level=None)  # a rolled-back write changes nothing
        failed.execute("BEGIN IMMEDIATE")
        failed.execute("UPDATE kv SET v = 4")
        failed.execute("ROLLBACK")
        failed.close()
        assert await db.memo("a", read) == 3
    with pytest.raises(UnavailableError, match="closed"):
        await db.memo("a", read)


async def test_memo_reads_every_time_when_the_version_cannot_be_told(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    async with await Database.open(path) as db:
        await db.execute("CREATE TABLE kv(k, v)")
        os.rename(path, tmp_path / "moved.db")  # the private connection cannot open it now
        reads = 0

        async def read() -> int:
            nonlocal reads
            reads += 1
            return reads

        assert [await db.memo("k", read) for _ in range(3)] == [1, 2, 3]
