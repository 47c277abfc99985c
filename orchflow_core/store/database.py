"""One SQLite database file behind aiosqlite: WAL, private permissions, one worker hop per txn.

Settings, and why:

- ``journal_mode=WAL``: readers never block the writer; a committed transaction is in the
  WAL file before ``COMMIT`` returns, so a crash of the process (``kill -9``) loses nothing
  that was committed.
- ``synchronous=NORMAL``: with WAL this fsyncs at checkpoints, not at every commit. A power
  cut may lose the last few commits, never corrupt the file; FULL costs ~0.15 ms per commit
  here (shared/research/perf.md §5) and buys only power-cut durability for shell history.
- ``foreign_keys=ON`` so ``panes.session`` cascades; ``busy_timeout`` so two processes (the
  Neovim host and the orchestrator) writing the same file wait instead of failing.
- The file (and the ``-wal``/``-shm`` files, which SQLite creates with the database file's
  mode) is 0600 and its directory 0700: history holds commands, which may hold secrets.

Why :meth:`Database.run_sync` exists: every ``await`` on an aiosqlite connection is a round
trip to its worker thread (~0.1 ms each way). A history append written as BEGIN / INSERT /
UPSERT / COMMIT awaits costs 0.37 ms; the same transaction as one Python function run on the
worker thread costs 0.12-0.14 ms. aiosqlite has no public API for that, so ``run_sync`` uses
its ``Connection._execute(fn)`` (present since aiosqlite 0.1 and still in 0.22); ``open``
checks for it and refuses to start (UnavailableError) rather than silently degrade if a
future aiosqlite removes it. The raw ``sqlite3.Connection`` handed to ``fn`` belongs to the
worker thread: ``fn`` must not keep it or pass it to another thread.

Why :meth:`Database.memo` exists: some reads are made on every command (the rules'
generation, the active mode) and their rows change seldom. ``memo`` keeps such a read until
anything is committed to the file by anyone, which SQLite's ``data_version`` tells in a few
µs on the calling thread (store/data_version.py).

sqlite3 errors become orchflow errors here, at one choke point: a constraint violation is a
ConflictError, "database is locked" after ``busy_timeout`` is a TimeoutError_, a file that is
not a database (or is corrupt) a BackendError saying it "is not usable", anything else a
BackendError naming the file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import aiosqlite

from orchflow_core.errors import (
    BackendError,
    ConflictError,
    InvalidArgumentError,
    OrchflowError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.paths import ensure_private_dir
from orchflow_core.store.data_version import DataVersion
from orchflow_core.store.migrations import MIGRATIONS, Migration, apply_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")
SqlParams = Sequence[Any] | dict[str, Any]

DEFAULT_BUSY_TIMEOUT_MS = 5000
MEMO_MAX_KEYS = 256  # values kept by Database.memo between two commits to the file


def _create_private_file(given: str | os.PathLike[str]) -> Path:
    """Create the file as 0600 (dir 0700) before SQLite opens it; tighten an existing one."""
    path = Path(os.path.expanduser(os.fspath(given)))
    if str(path) == ":memory:":
        raise InvalidArgumentError("Database needs a file path, not ':memory:'", param="path")
    try:
        ensure_private_dir(path.parent)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                log.warning("database %s had mode %o; setting 0600", path, mode)
                path.chmod(0o600)
            return path
        os.close(fd)
        os.chmod(path, 0o600)  # umask cannot widen it, but a default ACL could
    except OSError as exc:
        raise BackendError(
            f"cannot create database {path}: {exc.strerror}", path=str(path)
        ) from exc
    return path


def _translate(exc: sqlite3.Error, path: Path, busy_timeout_ms: int) -> OrchflowError:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"database {path}: {text}", path=str(path))
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return TimeoutError_(
            f"database {path} stayed locked by another writer for more than "
            f"{busy_timeout_ms} ms (busy_timeout_ms); try again or raise it",
            path=str(path),
        )
    # The primary code is the low byte: SQLITE_CORRUPT has extended variants (CORRUPT_VTAB ...).
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return BackendError(f"database {path} is not usable: {text}", path=str(path))
    return BackendError(f"sqlite error on {path}: {text}", path=str(path))


class Database:
    """An open orchflow database. Create with ``await Database.open(path)``.

    ``async with await Database.open(p) as db:`` closes it; ``close()`` is idempotent.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path, busy_timeout_ms: int) -> None:
        self._conn: aiosqlite.Connection | None = conn
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.schema_version = 0
        self._version = DataVersion(path)
        self._memo: tuple[int, dict[Hashable, Any]] | None = None

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``path``.

        ``busy_timeout_ms`` (default 5000): how long a write waits for another connection's
        write lock before failing with TimeoutError_. ``migrations`` is for tests.
        """
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int):
            raise InvalidArgumentError("busy_timeout_ms must be an int", param="busy_timeout_ms")
        if busy_timeout_ms < 0:
            raise InvalidArgumentError(
                f"busy_timeout_ms must be >= 0, got {busy_timeout_ms}", param="busy_timeout_ms"
            )
        db_path = _create_private_file(path)

        # isolation_level=None: sqlite3 issues no hidden BEGIN/COMMIT; we write them.
        conn = aiosqlite.connect(str(db_path), isolation_level=None, timeout=busy_timeout_ms / 1000)
        if not callable(getattr(conn, "_execute", None)):
            raise UnavailableError(
                f"aiosqlite {aiosqlite.__version__} has no Connection._execute; "
                "orchflow's store needs it to run a transaction in one worker call"
            )
        try:
            await conn
        except sqlite3.Error as exc:
            raise _translate(exc, db_path, busy_timeout_ms) from exc
        db = cls(conn, db_path, busy_timeout_ms)
        try:
            db.schema_version = await db.run_sync(
                lambda raw: _configure(raw, db_path, busy_timeout_ms, migrations)
            )
        except BaseException:
            await db.close()
            raise
        log.info("database %s open (schema %d)", db_path, db.schema_version)
        return db

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    async def close(self) -> None:
        """Close the connection and stop its worker thread. Safe to call twice."""
        conn, self._conn = self._conn, None
        self._version.close()
        self._memo = None
        if conn is not None:
            await conn.close()
            log.debug("database %s closed", self.path)

    async def memo(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """``await read()``, kept in memory under ``key`` until anything is committed to the
        file, by any connection of any process (store/data_version.py: a few µs to tell, no
        hop to the worker thread). Read every time when that cannot be told. The value is
        shared by every caller until then: it must not be changed (a tuple, a frozen
        dataclass, a number)."""
        if self._conn is None:
            raise UnavailableError(f"database {self.path} is closed")
        version = self._version.read()
        if version is None:
            return await read()
        memo = self._memo
        if memo is not None and memo[0] == version and key in memo[1]:
            return cast(T, memo[1][key])
        value = await read()  # read after the version: a commit meanwhile moves it again
        if self._memo is None or self._memo[0] != version:
            self._memo = (version, {})
        if len(self._memo[1]) < MEMO_MAX_KEYS:
            self._memo[1][key] = value
        return value

    async def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(raw_connection)`` on the worker thread in one hop; no transaction added.

        The connection is in autocommit mode: each statement commits by itself unless ``fn``
        opens a transaction (prefer :meth:`transaction` for writes).
        """
        conn = self._conn
        if conn is None:
            raise UnavailableError(f"database {self.path} is closed")

        def call() -> T:
            return fn(conn._conn)

        execute = cast(Callable[[Callable[[], T]], Awaitable[T]], conn._execute)
        try:
            result = await execute(call)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, self.busy_timeout_ms) from exc
        return result

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside BEGIN IMMEDIATE ... COMMIT as one worker call.

        IMMEDIATE takes the write lock up front, so ``busy_timeout`` applies to it; a
        deferred transaction that upgrades from read to write can fail at once with
        SQLITE_BUSY under WAL. Any exception rolls the whole transaction back.
        """

        def call(raw: sqlite3.Connection) -> T:
            raw.execute("BEGIN IMMEDIATE")
            try:
                result = fn(raw)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
            return result

        return await self.run_sync(call)

    async def execute(self, sql: str, params: SqlParams = ()) -> int:
        """Run one statement (autocommit); returns the number of rows changed."""
        return await self.run_sync(lambda raw: raw.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: SqlParams = ()) -> list[sqlite3.Row]:
        return await self.run_sync(lambda raw: raw.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: SqlParams = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self.run_sync(
            lambda raw: raw.execute(sql, params).fetchone()
        )
        return row


def _configure(
    raw: sqlite3.Connection, path: Path, busy_timeout_ms: int, migrations: Sequence[Migration]
) -> int:
    raw.row_factory = sqlite3.Row
    raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    # Two processes opening a new file at once: switching it to WAL (an exclusive lock)
    # can be refused at once, without the busy handler; a few short tries get past it.
    for attempt in range(_OPEN_TRIES):
        try:
            mode = raw.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _OPEN_TRIES - 1:
                raise
            log.info("database %s: busy while switching to WAL (%s); trying again", path, exc)
            time.sleep(0.05 * 2**attempt)
    if str(mode).lower() != "wal":
        # Some filesystems (network mounts) refuse WAL; the store still works, slower.
        log.warning("database %s: WAL refused (journal_mode=%s)", path, mode)
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute("PRAGMA foreign_keys = ON")
    return apply_migrations(raw, migrations)


_OPEN_TRIES = 5  # 50 + 100 + 200 + 400 ms between them
