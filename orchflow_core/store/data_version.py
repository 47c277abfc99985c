"""Has anything been committed to a database file since I last looked? SQLite's
``PRAGMA data_version``, read on a private connection of its own.

SQLite documents that the value "will be different if changes were committed to the
database by any other connection in the interim": another process (the Neovim host and the
orchestrator share orchflow.db) or this process's own aiosqlite connection. The private
connection only ever reads this pragma, so every commit to the file moves it. Reading it
costs a few microseconds (the WAL index is in shared memory), so it runs on the calling
thread, the event loop's, instead of a hop to aiosqlite's worker (~0.1 ms each way).
``busy_timeout`` is 0: it never waits on a lock; when it cannot tell (a lock, a file that
went away) it answers None and the caller reads the database as it would without it.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)


class DataVersion:
    """One private read connection to ``path``, opened on first use; use it from one thread
    at a time (the event loop's)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._told = False  # a failure is logged once, not on every read

    def read(self) -> int | None:
        """The file's data version as this connection sees it, or None when unknown."""
        try:
            if self._conn is None:
                # mode=rw: never create the file (it exists: Database.open made it)
                uri = f"{self._path.resolve().as_uri()}?mode=rw"
                self._conn = sqlite3.connect(
                    uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False
                )
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            if not self._told:
                log.info("data_version of %s unknown (%s): reading the database instead",
                         self._path, exc)  # fmt: skip
                self._told = True
            self.close()
            return None
        return int(row[0])

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
