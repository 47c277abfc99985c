"""Persistent agent memory: namespaced key/value entries with TTL and ranked search.

One SQLite file (``memory.db``) opened through ``orchflow_core.store.Database``, with its own
schema, ``MEMORY_MIGRATIONS`` (independent of ``orchflow.db`` and ``orchestrator.db``):

- ``memory_entries``: one row per (namespace, key). ``value`` holds the raw text when the
  caller stored a string (``kind = 'text'``), else its JSON encoding (``kind = 'json'``), so
  that full-text search sees the words a user wrote, not JSON escapes.
- ``memory_fts``: an FTS5 index over (key, value), external-content on ``memory_entries`` and
  kept in sync by triggers, so an upsert is one statement and one transaction.

Durability and permissions are ``Database``'s: WAL, ``synchronous=NORMAL``, the file 0600
(SQLite gives the ``-wal``/``-shm`` files the same mode) in a 0700 directory, as agents may
remember secrets. Every write is its own ``BEGIN IMMEDIATE`` transaction, committed before
its ``await`` returns, so killing the process (SIGKILL) loses nothing acknowledged; only a
power cut may drop the last commits.

Search ranks with FTS5's bm25 (the key column weighs twice the value). The user's query is
never passed to FTS5 as syntax: it is split into word terms, each quoted as a phrase and
OR-ed, so ``"``, ``*``, ``NEAR(`` or ``-`` cannot raise and an entry matching more terms ranks
higher. When FTS finds nothing (a typo such as "postgress"), a rapidfuzz ``partial_ratio``
scan over the keys and values in scope is the fallback. Each hit says which matcher found
it; scores are on different scales (``-bm25`` for "fts", 0-100 for "fuzzy").

Expired entries are filtered out of every read, deleted when ``get`` meets them, and purged
in bulk by ``purge_expired()``, which writes also call at most once per ``purge_interval_s``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal, TypedDict

from rapidfuzz import fuzz, utils

from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from orchflow_core.store.database import Database, SqlParams
from orchflow_core.store.migrations import Migration

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"
DEFAULT_MAX_VALUE_BYTES = 1024 * 1024
DEFAULT_BUSY_TIMEOUT_S = 5.0
DEFAULT_PURGE_INTERVAL_S = 60.0
DEFAULT_FUZZY_CUTOFF = 80.0
DEFAULT_FUZZY_SCAN_LIMIT = 5000
# Fuzzy matching looks at the start of long values only: partial_ratio is O(len) per pair.
FUZZY_TEXT_CHARS = 4000
MAX_LIMIT = 10_000

# Version 1 is the schema memory.db had before it used migrations: that code created it with
# these statements (as CREATE ... IF NOT EXISTS) and set ``user_version = 1`` in the same
# transaction, so its files open here as already migrated. Never edit a migration; add one.
MEMORY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "memory: entries, their FTS5 index and the triggers keeping it in sync",
        (
            """CREATE TABLE memory_entries (
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
            )""",
            """CREATE INDEX memory_entries_expires ON memory_entries (expires_at)
                WHERE expires_at IS NOT NULL""",
            """CREATE VIRTUAL TABLE memory_fts USING fts5 (
                key, value, content='memory_entries', content_rowid='id',
                tokenize='unicode61 remove_diacritics 2'
            )""",
            """CREATE TRIGGER memory_entries_ai AFTER INSERT ON memory_entries BEGIN
                INSERT INTO memory_fts (rowid, key, value) VALUES (new.id, new.key, new.value);
            END""",
            """CREATE TRIGGER memory_entries_ad AFTER DELETE ON memory_entries BEGIN
                INSERT INTO memory_fts (memory_fts, rowid, key, value)
                    VALUES ('delete', old.id, old.key, old.value);
            END""",
            """CREATE TRIGGER memory_entries_au AFTER UPDATE ON memory_entries BEGIN
                INSERT INTO memory_fts (memory_fts, rowid, key, value)
                    VALUES ('delete', old.id, old.key, old.value);
                INSERT INTO memory_fts (rowid, key, value) VALUES (new.id, new.key, new.value);
            END""",
        ),
    ),
)

# SQL text is assembled from these module constants only (hence the S608 waivers below);
# every user-supplied value is a bound parameter.
_COLUMNS = "namespace, key, value, kind, metadata, created_at, updated_at, expires_at"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_TERM_RE = re.compile(r"\w+", re.UNICODE)

Matcher = Literal["fts", "fuzzy"]


class MemoryEntry(TypedDict):
    namespace: str
    key: str
    value: Any
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    expires_at: float | None


class SearchHit(MemoryEntry):
    score: float
    matcher: Matcher


# Module-level aliases: inside MemoryStore, ``list`` names the method.
EntryList = list[MemoryEntry]
HitList = list[SearchHit]
Params = list[Any]
Terms = list[str]
Scored = list[tuple[float, sqlite3.Row]]


def query_terms(query: str) -> list[str]:
    """The word terms of a user query, in order, without duplicates (case-insensitive)."""
    seen: dict[str, str] = {}
    for term in _TERM_RE.findall(query):
        seen.setdefault(term.casefold(), term)
    return list(seen.values())


def fts_match_expression(terms: Iterable[str]) -> str:
    """An FTS5 MATCH expression OR-ing each term as a quoted phrase (no FTS syntax leaks)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


class MemoryStore:
    """Async persistent memory. Use ``async with await MemoryStore.open(path) as mem:``."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float],
        max_value_bytes: int,
        purge_interval_s: float,
        fuzzy_cutoff: float,
        fuzzy_scan_limit: int,
    ) -> None:
        self._db = db
        self.path = db.path
        self._clock = clock
        self._max_value_bytes = max_value_bytes
        self._purge_interval_s = purge_interval_s
        self._fuzzy_cutoff = fuzzy_cutoff
        self._fuzzy_scan_limit = fuzzy_scan_limit
        self._last_purge = -math.inf

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        purge_interval_s: float = DEFAULT_PURGE_INTERVAL_S,
        fuzzy_cutoff: float = DEFAULT_FUZZY_CUTOFF,
        fuzzy_scan_limit: int = DEFAULT_FUZZY_SCAN_LIMIT,
    ) -> MemoryStore:
        """Open (creating if needed) the memory database at ``path``.

        ``clock`` returns epoch seconds and decides TTL expiry (tests inject one).
        Raises UnavailableError if this SQLite lacks FTS5 or the file's schema is newer than
        ``MEMORY_MIGRATIONS``, BackendError if the file is not a usable database.
        """
        missing = _fts5_missing()
        if missing is not None:
            raise UnavailableError(
                f"memory search needs SQLite's FTS5, which this Python's sqlite3 "
                f"({sqlite3.sqlite_version}) lacks: {missing}",
                path=os.fspath(path),
            )
        db = await Database.open(
            path, busy_timeout_ms=int(busy_timeout_s * 1000), migrations=MEMORY_MIGRATIONS
        )
        return cls(
            db,
            clock=clock,
            max_value_bytes=max_value_bytes,
            purge_interval_s=purge_interval_s,
            fuzzy_cutoff=fuzzy_cutoff,
            fuzzy_scan_limit=fuzzy_scan_limit,
        )

    async def close(self) -> None:
        """Close the database; calling it again does nothing."""
        await self._db.close()

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- writes ---------------------------------------------------------------------------

    async def store(
        self,
        key: str,
        value: Any,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        metadata: dict[str, Any] | None = None,
        ttl_s: float | None = None,
    ) -> MemoryEntry:
        """Insert or replace ``key`` in ``namespace``; returns the stored entry.

        ``value`` is a string or anything JSON-serialisable (at most ``max_value_bytes``
        once encoded). ``ttl_s`` > 0 makes the entry expire; replacing an entry keeps its
        ``created_at`` and sets a new expiry (None: never).
        """
        _check_key(key)
        _check_namespace(namespace)
        meta_json = _encode_metadata(metadata)
        expires_in = _check_ttl(ttl_s)
        text, kind = self._encode_value(value)
        now = self._clock()
        expires_at = None if expires_in is None else now + expires_in
        row = await self._write(
            f"INSERT INTO memory_entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
            "kind = excluded.kind, metadata = excluded.metadata, "
            "updated_at = excluded.updated_at, expires_at = excluded.expires_at, "
            # An expired entry being replaced is a new entry, not an update of it.
            "created_at = CASE WHEN memory_entries.expires_at IS NOT NULL "
            "AND memory_entries.expires_at <= excluded.updated_at "
            "THEN excluded.created_at ELSE memory_entries.created_at END "
            f"RETURNING {_COLUMNS}",
            (namespace, key, text, kind, meta_json, now, now, expires_at),
        )
        if row is None:  # RETURNING always yields the written row; never silently succeed
            raise BackendError(f"memory database {self.path}: upsert of {key!r} returned no row")
        await self._maybe_purge(now)
        return _entry(row)

    async def delete(self, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> bool:
        """Delete ``key``; True if a live entry was removed (an expired one counts as absent)."""
        _check_key(key)
        _check_namespace(namespace)
        row = await self._write(
            "DELETE FROM memory_entries WHERE namespace = ? AND key = ? RETURNING expires_at",
            (namespace, key),
        )
        return row is not None and (row["expires_at"] is None or row["expires_at"] > self._clock())

    async def purge_expired(self) -> int:
        """Delete every expired entry now; returns how many were deleted."""
        now = self._clock()
        self._last_purge = now
        sql = "DELETE FROM memory_entries WHERE expires_at IS NOT NULL AND expires_at <= ?"
        count = await self._db.transaction(lambda raw: raw.execute(sql, (now,)).rowcount)
        if count:
            log.debug("memory store purged %s expired entries", count)
        return max(count, 0)

    # -- reads ----------------------------------------------------------------------------

    async def get(self, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> MemoryEntry:
        """The live entry for ``key``; NotFoundError if absent or expired."""
        _check_key(key)
        _check_namespace(namespace)
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM memory_entries WHERE namespace = ? AND key = ?",  # noqa: S608
            (namespace, key),
        )
        now = self._clock()
        if row is not None and row["expires_at"] is not None and row["expires_at"] <= now:
            await self._write(
                "DELETE FROM memory_entries WHERE namespace = ? AND key = ? "
                "AND expires_at IS NOT NULL AND expires_at <= ?",
                (namespace, key, now),
            )
            raise NotFoundError(
                f"memory key {key!r} in namespace {namespace!r} has expired",
                key=key,
                namespace=namespace,
            )
        if row is None:
            raise NotFoundError(
                f"no memory key {key!r} in namespace {namespace!r}",
                key=key,
                namespace=namespace,
            )
        return _entry(row)

    async def list(
        self, *, namespace: str | None = None, prefix: str | None = None, limit: int = 100
    ) -> EntryList:
        """Live entries ordered by (namespace, key), optionally one namespace / key prefix."""
        if namespace is not None:
            _check_namespace(namespace)
        if prefix is not None and not isinstance(prefix, str):
            raise InvalidArgumentError(
                f"prefix must be a string or None, not {type(prefix).__name__}", prefix=prefix
            )
        _check_limit(limit)
        where: Terms = [_LIVE]
        params: Params = [self._clock()]
        if namespace is not None:
            where.append("namespace = ?")
            params.append(namespace)
        if prefix:
            where.append("substr(key, 1, ?) = ?")
            params.extend([len(prefix), prefix])
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM memory_entries WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY namespace, key LIMIT ?",
            (*params, limit),
        )
        return [_entry(r) for r in rows]

    async def count(self, *, namespace: str | None = None) -> int:
        """How many live entries there are (in ``namespace``, or in all)."""
        params: Params = [self._clock()]
        sql = f"SELECT count(*) FROM memory_entries WHERE {_LIVE}"  # noqa: S608
        if namespace is not None:
            _check_namespace(namespace)
            sql += " AND namespace = ?"
            params.append(namespace)
        row = await self._db.fetchone(sql, params)
        return int(row[0]) if row else 0

    async def search(self, query: str, *, namespace: str | None = None, limit: int = 20) -> HitList:
        """Live entries matching ``query``, best first: FTS5/bm25, else fuzzy (typos)."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError(
                "query must be a non-empty string of words to search for", query=query
            )
        if namespace is not None:
            _check_namespace(namespace)
        _check_limit(limit)
        terms = query_terms(query)
        hits = await self._search_fts(terms, namespace, limit) if terms else []
        if not hits:
            hits = await self._search_fuzzy(terms or [query.strip()], namespace, limit)
        return hits

    async def _search_fts(self, terms: Terms, namespace: str | None, limit: int) -> HitList:
        cols = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
        sql = (
            f"SELECT {cols}, -bm25(memory_fts, 2.0, 1.0) AS score FROM memory_fts "  # noqa: S608
            "JOIN memory_entries AS e ON e.id = memory_fts.rowid "
            "WHERE memory_fts MATCH ? AND (e.expires_at IS NULL OR e.expires_at > ?)"
        )
        params: Params = [fts_match_expression(terms), self._clock()]
        if namespace is not None:
            sql += " AND e.namespace = ?"
            params.append(namespace)
        sql += " ORDER BY score DESC, e.namespace, e.key LIMIT ?"
        rows = await self._db.fetchall(sql, (*params, limit))
        return [_hit(r, float(r["score"]), "fts") for r in rows]

    async def _search_fuzzy(self, terms: Terms, namespace: str | None, limit: int) -> HitList:
        sql = f"SELECT {_COLUMNS} FROM memory_entries WHERE {_LIVE}"  # noqa: S608
        params: Params = [self._clock()]
        if namespace is not None:
            sql += " AND namespace = ?"
            params.append(namespace)
        sql += " ORDER BY updated_at DESC LIMIT ?"
        rows = await self._db.fetchall(sql, (*params, self._fuzzy_scan_limit))
        wanted = [utils.default_process(t) for t in terms]
        wanted = [t for t in wanted if t]
        if not wanted:
            return []
        scored: Scored = []
        for row in rows:
            text = utils.default_process(f"{row['key']} {row['value'][:FUZZY_TEXT_CHARS]}")
            # Each term aligns on its own, so "postgress conection" finds both words.
            score = sum(fuzz.partial_ratio(t, text) for t in wanted) / len(wanted)
            if score >= self._fuzzy_cutoff:
                scored.append((score, row))
        scored.sort(key=lambda s: (-s[0], s[1]["namespace"], s[1]["key"]))
        return [_hit(row, score, "fuzzy") for score, row in scored[:limit]]

    # -- plumbing -------------------------------------------------------------------------

    def _encode_value(self, value: Any) -> tuple[str, str]:
        if isinstance(value, str):
            text, kind = value, "text"
        else:
            try:
                text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(
                    f"value must be a string or JSON-serialisable: {exc}",
                    value_type=type(value).__name__,
                ) from exc
            kind = "json"
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self._max_value_bytes:
            raise InvalidArgumentError(
                f"value is {size} bytes; the limit is {self._max_value_bytes} bytes",
                value_bytes=size,
                max_value_bytes=self._max_value_bytes,
            )
        return text, kind

    async def _maybe_purge(self, now: float) -> None:
        if now - self._last_purge >= self._purge_interval_s:
            await self.purge_expired()

    async def _write(self, sql: str, params: SqlParams) -> sqlite3.Row | None:
        """Run one write statement in its own transaction; its first RETURNING row, if any."""
        # fetchall, not fetchone: the statement must finish before the COMMIT.
        rows = await self._db.transaction(lambda raw: raw.execute(sql, params).fetchall())
        return rows[0] if rows else None


@functools.cache
def _fts5_missing() -> str | None:
    """Why this Python's SQLite has no FTS5, or None if it has (a property of the library)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE fts5_probe USING fts5 (x)")
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        probe.close()
    return None


def _entry(row: sqlite3.Row) -> MemoryEntry:
    """Decode a row holding (at least) the ``_COLUMNS``, by name."""
    text = row["value"]
    return MemoryEntry(
        namespace=row["namespace"],
        key=row["key"],
        value=text if row["kind"] == "text" else json.loads(text),
        metadata=json.loads(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


def _hit(row: sqlite3.Row, score: float, matcher: Matcher) -> SearchHit:
    return SearchHit(**_entry(row), score=score, matcher=matcher)


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(
            f"key must be a non-empty string, not {key!r}",
            key=key if isinstance(key, str) else None,
        )


def _check_namespace(namespace: object) -> None:
    if not isinstance(namespace, str) or not namespace:
        raise InvalidArgumentError(
            f"namespace must be a non-empty string, not {type(namespace).__name__} {namespace!r}",
            namespace=namespace if isinstance(namespace, str) else None,
        )


def _check_ttl(ttl_s: object) -> float | None:
    if ttl_s is None:
        return None
    if (
        isinstance(ttl_s, bool)
        or not isinstance(ttl_s, int | float)
        or not math.isfinite(ttl_s)
        or ttl_s <= 0
    ):
        raise InvalidArgumentError(
            f"ttl_s must be a positive number of seconds or None, not {ttl_s!r}",
            ttl_s=ttl_s if isinstance(ttl_s, int | float) else None,
        )
    return float(ttl_s)


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(
            f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}",
            limit=limit if isinstance(limit, int) else None,
        )


def _encode_metadata(metadata: object) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict):
        raise InvalidArgumentError(
            f"metadata must be a dict (JSON object) or None, not {type(metadata).__name__}",
            metadata_type=type(metadata).__name__,
        )
    try:
        return json.dumps(metadata, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"metadata must be JSON-serialisable: {exc}", metadata_type="dict"
        ) from exc
