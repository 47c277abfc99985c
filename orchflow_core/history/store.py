"""HistoryStore: every command run through orchflow, ranked by frecency (see frecency.py).

Each write is one transaction run as one call on the database's worker thread: an append
is INSERT into ``history`` plus a log-sum-exp UPSERT into ``history_frecency`` for the
global scope (``cwd = ''``) and for the command's directory. Reads of top-N walk the
``(cwd, score DESC)`` index. Search and imports also run on the worker thread, so the
event loop never waits on SQLite or on fuzzy matching.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from orchflow_core.errors import BackendError, ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.history.frecency import (
    DEFAULT_FAILURE_WEIGHT,
    DEFAULT_HALF_LIFE_DAYS,
    SECONDS_PER_DAY,
    FrecencyModel,
    is_failure,
    logaddexp,
)
from orchflow_core.history.importers import (
    FORMATS,
    Run,
    decode_export,
    detect_format,
    encode_export,
    fill_missing_times,
    parse_shell,
)
from orchflow_core.store.database import Database

log = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 65_536
MAX_LIMIT = 1000
SEARCH_CACHE_SCOPES = 4  # directories whose command lists search keeps in memory
DEFAULT_MAX_IMPORT_BYTES = 256 * 1024 * 1024
GLOBAL = ""  # history_frecency.cwd for "all directories"

_INSERT_HISTORY = (
    "INSERT INTO history(command, cwd, pane_type, exit_code, duration_s, ts, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_FRECENCY = """
INSERT INTO history_frecency(cwd, command, runs, failures, last_ts, last_exit_code, score)
VALUES (?, ?, 1, ?, ?, ?, ?)
ON CONFLICT(cwd, command) DO UPDATE SET
    runs = runs + 1,
    failures = failures + excluded.failures,
    last_exit_code = CASE WHEN excluded.last_ts >= last_ts
                          THEN excluded.last_exit_code ELSE last_exit_code END,
    last_ts = max(last_ts, excluded.last_ts),
    score = orchflow_logaddexp(score, excluded.score)
"""
_IS_DUPLICATE = (
    "SELECT 1 FROM history WHERE ts = ? AND command = ? AND cwd IS ? AND id <= ? LIMIT 1"
)
_RANKED_COLUMNS = "command, score, runs, failures, last_ts, last_exit_code"


@dataclass(frozen=True, slots=True)
class FrecentCommand:
    command: str
    frecency: float  # decayed, success-weighted run count now (frecency.py)
    score: float  # the stored, time-invariant log score the ranking uses
    runs: int
    failures: int
    last_ts: float
    last_exit_code: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ImportReport:
    format: str
    imported: int
    skipped: int  # malformed lines or records
    duplicates: int  # already in the history (same command, time and cwd)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_limit(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidArgumentError(
            f"{name} must be an int in 1..{MAX_LIMIT}, got {value!r}", param=name
        )
    return value


def _normalize_cwd(cwd: str | None) -> str | None:
    if cwd is None or cwd == "":
        return None
    if not isinstance(cwd, str):
        raise InvalidArgumentError(f"cwd must be a string, got {type(cwd).__name__}", param="cwd")
    return os.path.normpath(cwd)


def _check_command(command: str) -> str:
    if not isinstance(command, str):
        raise InvalidArgumentError(
            f"command must be a string, got {type(command).__name__}", param="command"
        )
    text = command.strip()
    if not text:
        raise InvalidArgumentError("command is empty", param="command")
    if len(text) > MAX_COMMAND_CHARS:
        raise InvalidArgumentError(
            f"command is {len(text)} characters; at most {MAX_COMMAND_CHARS} are kept",
            param="command",
        )
    return text


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    SQLite compares TEXT by UTF-8 bytes, which orders like code points, so
    ``prefix <= s < bound`` is an index range. None: no bound (prefix of U+10FFFF only).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored; skip past them
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


def rank_matches(
    query: str, candidates: Sequence[str], *, limit: int, folded: Sequence[str] | None = None
) -> list[int]:
    """Indices of ``candidates`` that fuzzily match ``query``, best first.

    Matching is fzf-like: the query's characters must appear in order (a subsequence),
    allowing one miss per five query characters for typos. Scorer: rapidfuzz
    ``LCSseq.similarity`` (bit-parallel, ~ms for 30k commands; WRatio is ~20x slower and
    favours nothing useful here). Smart case: a query with no capitals ignores case.
    Order: starts with the query, then contains it, then full subsequence, then with
    misses; ties keep the candidates' order (callers pass them by frecency). ``folded``:
    the candidates already lower-cased, if the caller keeps them.
    """
    fold = query == query.lower()
    needle = query.lower() if fold else query
    if fold:
        choices = folded if folded is not None else [c.lower() for c in candidates]
    else:
        choices = candidates
    cutoff = len(needle) - len(needle) // 5
    found = process.extract(
        needle, choices, scorer=LCSseq.similarity, processor=None, score_cutoff=cutoff, limit=None
    )

    def key(match: tuple[str, float, int]) -> tuple[int, float, int]:
        choice, matched, index = match
        if choice.startswith(needle):
            tier = 3
        elif needle in choice:
            tier = 2
        else:
            tier = 1 if matched >= len(needle) else 0
        return (-tier, -matched, index)

    return [index for _, _, index in sorted(found, key=key)[:limit]]


class HistoryStore:
    """Command history with frecency ranking. Create with ``await HistoryStore.open(db)``.

    Use one HistoryStore per Database: search's candidate cache notices writes from other
    connections and from itself, not from a second HistoryStore on the same connection.
    """

    def __init__(self, db: Database, model: FrecencyModel, clock: Callable[[], float]) -> None:
        self.db = db
        self.model = model
        self._clock = clock
        # Touched on the database worker thread only (see _candidates).
        self._writes = 0
        self._search_cache: dict[str, tuple[tuple[int, int], list[str], list[str]]] = {}

    @classmethod
    async def open(
        cls,
        db: Database,
        *,
        half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
        failure_weight: float = DEFAULT_FAILURE_WEIGHT,
        clock: Callable[[], float] = time.time,
    ) -> HistoryStore:
        """Attach to ``db``; recomputes every score if the settings changed since last time."""
        try:
            model = FrecencyModel(half_life_days, failure_weight)
        except ValueError as exc:
            raise InvalidArgumentError(str(exc)) from exc
        store = cls(db, model, clock)
        await db.run_sync(
            lambda conn: conn.create_function(
                "orchflow_logaddexp", 2, logaddexp, deterministic=True
            )
        )
        await db.transaction(store._sync_settings)
        return store

    # ----------------------------------------------------------------- writes

    async def add(
        self,
        command: str,
        *,
        cwd: str | None,
        pane_type: str | None,
        exit_code: int | None,
        duration_s: float | None,
        ts: float | None = None,
    ) -> int:
        """Record one run; returns its history row id. ``ts`` defaults to now."""
        run = self._checked(command, cwd, pane_type, exit_code, duration_s, ts)
        return await self.db.transaction(lambda conn: self._insert(conn, run))

    def add_in(
        self,
        conn: sqlite3.Connection,
        command: str,
        *,
        cwd: str | None,
        pane_type: str | None,
        exit_code: int | None,
        duration_s: float | None,
    ) -> int:
        """``add`` inside a transaction the caller holds on this store's database (a run's
        end is stored with its history entry in one commit)."""
        return self._insert(conn, self._checked(command, cwd, pane_type, exit_code, duration_s))

    def _checked(
        self,
        command: str,
        cwd: str | None,
        pane_type: str | None,
        exit_code: int | None,
        duration_s: float | None,
        ts: float | None = None,
    ) -> Run:
        text = _check_command(command)
        if exit_code is not None and (
            isinstance(exit_code, bool) or not isinstance(exit_code, int)
        ):
            raise InvalidArgumentError(
                f"exit_code must be an int or None, got {exit_code!r}", param="exit_code"
            )
        if duration_s is not None and (
            isinstance(duration_s, bool)
            or not isinstance(duration_s, int | float)
            or duration_s < 0
        ):
            raise InvalidArgumentError(
                f"duration_s must be a number >= 0 or None, got {duration_s!r}", param="duration_s"
            )
        when = self._clock() if ts is None else ts
        if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
            raise InvalidArgumentError(f"ts must be a Unix time in seconds, got {ts!r}", param="ts")
        return (
            text,
            _normalize_cwd(cwd),
            pane_type or None,
            exit_code,
            None if duration_s is None else float(duration_s),
            float(when),
            "orchflow",
        )

    def _insert(self, conn: sqlite3.Connection, run: Run) -> int:
        command, cwd, _, exit_code, _, ts, _ = run
        self._writes += 1
        row_id = conn.execute(_INSERT_HISTORY, run).lastrowid
        failed = 1 if is_failure(exit_code) else 0
        score = self.model.contribution(ts, exit_code)
        conn.execute(_UPSERT_FRECENCY, (GLOBAL, command, failed, ts, exit_code, score))
        if cwd is not None:
            conn.execute(_UPSERT_FRECENCY, (cwd, command, failed, ts, exit_code, score))
        assert row_id is not None
        return row_id

    def _insert_many(self, conn: sqlite3.Connection, runs: Iterable[Run]) -> tuple[int, int]:
        """Insert runs not already present before this call; returns (imported, duplicates)."""
        before = conn.execute("SELECT coalesce(max(id), 0) FROM history").fetchone()[0]
        imported = duplicates = 0
        for run in runs:
            command, cwd, _, _, _, ts, _ = run
            if before and conn.execute(_IS_DUPLICATE, (ts, command, cwd, before)).fetchone():
                duplicates += 1
                continue
            self._insert(conn, run)
            imported += 1
        return imported, duplicates

    async def prune(self, older_than_days: float) -> int:
        """Delete runs older than ``older_than_days``; returns how many rows went."""
        if (
            isinstance(older_than_days, bool)
            or not isinstance(older_than_days, int | float)
            or not older_than_days >= 0
        ):
            raise InvalidArgumentError(
                f"older_than_days must be a number >= 0, got {older_than_days!r}",
                param="older_than_days",
            )
        cutoff = self._clock() - older_than_days * SECONDS_PER_DAY

        def prune(conn: sqlite3.Connection) -> int:
            deleted = conn.execute(
                "DELETE FROM history WHERE ts < ? RETURNING command", (cutoff,)
            ).fetchall()
            affected = {row[0] for row in deleted}
            if affected:
                self._rebuild(conn, affected)
            return len(deleted)

        removed = await self.db.transaction(prune)
        log.info("history prune: %d rows older than %s days", removed, older_than_days)
        return removed

    def _rebuild(self, conn: sqlite3.Connection, commands: set[str] | None) -> None:
        """Recompute history_frecency rows for ``commands`` (None: all) from raw history."""
        self._writes += 1
        if commands is None:
            conn.execute("DELETE FROM history_frecency")
            rows = conn.execute("SELECT command, cwd, ts, exit_code FROM history ORDER BY ts, id")
        else:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS rebuild_commands(command TEXT PRIMARY KEY)"
            )
            conn.execute("DELETE FROM temp.rebuild_commands")
            conn.executemany(
                "INSERT INTO temp.rebuild_commands VALUES (?)", ((c,) for c in commands)
            )
            where = "command IN (SELECT command FROM temp.rebuild_commands)"
            conn.execute(f"DELETE FROM history_frecency WHERE {where}")  # noqa: S608
            rows = conn.execute(
                f"SELECT command, cwd, ts, exit_code FROM history WHERE {where} ORDER BY ts, id"  # noqa: S608
            )
        # (cwd, command) -> [runs, failures, last_ts, last_exit_code, score]
        acc: dict[tuple[str, str], list[Any]] = {}
        for command, cwd, ts, exit_code in rows:
            part = self.model.contribution(ts, exit_code)
            for scope in (GLOBAL, cwd) if cwd is not None else (GLOBAL,):
                cur = acc.get((scope, command))
                if cur is None:
                    acc[(scope, command)] = [1, int(is_failure(exit_code)), ts, exit_code, part]
                else:
                    cur[0] += 1
                    cur[1] += int(is_failure(exit_code))
                    cur[2], cur[3] = ts, exit_code
                    cur[4] = logaddexp(cur[4], part)
        conn.executemany(
            "INSERT INTO history_frecency(cwd, command, runs, failures, last_ts, last_exit_code,"
            " score) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((scope, command, *values) for (scope, command), values in acc.items()),
        )

    def _sync_settings(self, conn: sqlite3.Connection) -> None:
        wanted = {
            "half_life_days": repr(float(self.model.half_life_days)),
            "failure_weight": repr(float(self.model.failure_weight)),
        }
        stored = dict(conn.execute("SELECT key, value FROM history_meta").fetchall())
        if all(stored.get(key) == value for key, value in wanted.items()):
            return
        if stored or conn.execute("SELECT 1 FROM history LIMIT 1").fetchone():
            log.info("history frecency settings changed %s -> %s; rescoring", stored, wanted)
            self._rebuild(conn, None)
        conn.executemany(
            "INSERT OR REPLACE INTO history_meta(key, value) VALUES (?, ?)", wanted.items()
        )

    # ------------------------------------------------------------------ reads

    def _ranked(self, rows: Iterable[sqlite3.Row | tuple[Any, ...]]) -> list[FrecentCommand]:
        now = self._clock()
        return [
            FrecentCommand(
                command=row[0],
                frecency=self.model.frecency_at(row[1], now),
                score=row[1],
                runs=row[2],
                failures=row[3],
                last_ts=row[4],
                last_exit_code=row[5],
            )
            for row in rows
        ]

    async def top(self, n: int = 20, *, cwd: str | None = None) -> list[FrecentCommand]:
        """The ``n`` most frecent commands, overall or among those run in ``cwd``."""
        _check_limit("n", n)
        scope = _normalize_cwd(cwd) or GLOBAL
        rows = await self.db.fetchall(
            f"SELECT {_RANKED_COLUMNS} FROM history_frecency WHERE cwd = ?"  # noqa: S608
            " ORDER BY score DESC LIMIT ?",
            (scope, n),
        )
        return self._ranked(rows)

    async def suggest(
        self, prefix: str, *, limit: int = 10, cwd: str | None = None
    ) -> list[FrecentCommand]:
        """Commands starting with ``prefix`` (case-sensitive), most frecent first."""
        _check_limit("limit", limit)
        if not isinstance(prefix, str):
            raise InvalidArgumentError("prefix must be a string", param="prefix")
        if not prefix:
            return await self.top(limit, cwd=cwd)
        scope = _normalize_cwd(cwd) or GLOBAL
        bound = prefix_upper_bound(prefix)
        sql = f"SELECT {_RANKED_COLUMNS} FROM history_frecency WHERE cwd = ? AND command >= ?"  # noqa: S608
        params: list[Any] = [scope, prefix]
        if bound is not None:
            sql += " AND command < ?"
            params.append(bound)
        rows = await self.db.fetchall(sql + " ORDER BY score DESC LIMIT ?", (*params, limit))
        return self._ranked(rows)

    async def search(
        self, query: str, *, limit: int = 50, cwd: str | None = None
    ) -> list[FrecentCommand]:
        """Fuzzy search over distinct commands (see :func:`rank_matches`), frecency breaks ties."""
        _check_limit("limit", limit)
        if not isinstance(query, str):
            raise InvalidArgumentError("query must be a string", param="query")
        needle = query.strip()
        if not needle:
            return await self.top(limit, cwd=cwd)
        scope = _normalize_cwd(cwd) or GLOBAL

        def search(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            commands, folded = self._candidates(conn, scope)
            picked = [
                commands[i] for i in rank_matches(needle, commands, limit=limit, folded=folded)
            ]
            if not picked:
                return []
            marks = ", ".join("?" * len(picked))
            rows = conn.execute(
                f"SELECT {_RANKED_COLUMNS} FROM history_frecency"  # noqa: S608
                f" WHERE cwd = ? AND command IN ({marks})",
                (scope, *picked),
            ).fetchall()
            by_command = {row[0]: tuple(row) for row in rows}
            return [by_command[c] for c in picked if c in by_command]

        return self._ranked(await self.db.run_sync(search))

    def _candidates(self, conn: sqlite3.Connection, scope: str) -> tuple[list[str], list[str]]:
        """Distinct commands of ``scope`` by frecency, and their lower-case forms (cached).

        Fetching 40k commands costs ~20 ms, matching them ~2 ms: keep the list while
        nothing was written, by us (``_writes``) or another connection (``data_version``).
        Runs on the worker thread only, like every write, so no lock is needed.
        """
        generation = (self._writes, conn.execute("PRAGMA data_version").fetchone()[0])
        cached = self._search_cache.get(scope)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        commands = [
            row[0]
            for row in conn.execute(
                "SELECT command FROM history_frecency WHERE cwd = ? ORDER BY score DESC", (scope,)
            )
        ]
        folded = [c.lower() for c in commands]
        if len(self._search_cache) >= SEARCH_CACHE_SCOPES:
            self._search_cache.pop(next(iter(self._search_cache)))
        self._search_cache[scope] = (generation, commands, folded)
        return commands, folded

    async def count(self) -> int:
        row = await self.db.fetchone("SELECT count(*) FROM history")
        return int(row[0]) if row else 0

    # ------------------------------------------------------- import / export

    async def import_shell(
        self,
        path: str | os.PathLike[str],
        shell: str = "auto",
        *,
        max_bytes: int = DEFAULT_MAX_IMPORT_BYTES,
    ) -> ImportReport:
        """Import a bash/zsh/fish history file (``shell="auto"`` guesses; json too)."""
        if shell not in ("auto", *FORMATS):
            raise InvalidArgumentError(
                f"shell must be auto, {', '.join(FORMATS)}; got {shell!r}", param="shell"
            )
        file = _user_path(path)
        data, mtime = await asyncio.to_thread(_read_limited, file, max_bytes)
        fmt = detect_format(file.name, data[:4096]) if shell == "auto" else shell
        if fmt == "json":
            return await self._import_entries(file, data)
        parsed = await asyncio.to_thread(parse_shell, data, fmt)
        runs: list[Run] = [
            (cmd.command, None, None, None, cmd.duration_s, float(cmd.ts or mtime), fmt)
            for cmd in fill_missing_times(parsed.commands, mtime)
        ]
        imported, duplicates = await self.db.transaction(lambda c: self._insert_many(c, runs))
        log.info("imported %s history %s: %d new, %d skipped", fmt, file, imported, parsed.skipped)
        return ImportReport(fmt, imported, parsed.skipped, duplicates)

    async def import_json(
        self, path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_IMPORT_BYTES
    ) -> ImportReport:
        """Import an :meth:`export_json` file. Bad JSON: InvalidArgumentError, nothing written."""
        file = _user_path(path)
        data, _ = await asyncio.to_thread(_read_limited, file, max_bytes)
        return await self._import_entries(file, data)

    async def _import_entries(self, file: Path, data: bytes) -> ImportReport:
        runs, skipped = await asyncio.to_thread(decode_export, data, str(file))
        imported, duplicates = await self.db.transaction(lambda c: self._insert_many(c, runs))
        log.info("imported json history %s: %d new, %d skipped", file, imported, skipped)
        return ImportReport("json", imported, skipped, duplicates)

    async def export_json(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> int:
        """Write every run to ``path`` (mode 0600, atomically); returns the count."""
        file = _user_path(path)
        rows = await self.db.fetchall(
            "SELECT command, cwd, pane_type, exit_code, duration_s, ts, source"
            " FROM history ORDER BY ts, id"
        )
        runs: list[Run] = [tuple(row) for row in rows]
        data = await asyncio.to_thread(encode_export, runs, self._clock())
        await asyncio.to_thread(_write_private, file, data, overwrite)
        log.info("exported %d history rows to %s", len(runs), file)
        return len(runs)


def _user_path(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.expanduser(os.fspath(path)))


def _read_limited(file: Path, max_bytes: int) -> tuple[bytes, float]:
    """The bytes and mtime of ``file``, refusing files above ``max_bytes``."""
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read forever
            raise InvalidArgumentError(f"{file} is not a regular file", path=str(file))
        size = info.st_size
        if size > max_bytes:
            raise InvalidArgumentError(
                f"{file} is {size} bytes; the import limit is {max_bytes} (max_bytes)",
                path=str(file),
            )
        with file.open("rb") as handle:
            data = handle.read(max_bytes + 1)
            mtime = os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError:
        raise NotFoundError(f"no such history file: {file}", path=str(file)) from None
    except OSError as exc:
        raise BackendError(f"cannot read {file}: {exc.strerror}", path=str(file)) from None
    if len(data) > max_bytes:
        raise InvalidArgumentError(f"{file} grew past the import limit {max_bytes}", path=str(file))
    return data, mtime


def _write_private(file: Path, data: bytes, overwrite: bool) -> None:
    """Write ``data`` to ``file`` as 0600 via a temp file + rename (never half a file)."""
    if file.exists() and not overwrite:
        raise ConflictError(f"{file} exists; pass overwrite=true to replace it", path=str(file))
    if not file.parent.is_dir():
        raise NotFoundError(f"directory {file.parent} does not exist", path=str(file))
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BackendError(f"cannot write {file}: {exc.strerror}", path=str(file)) from None
