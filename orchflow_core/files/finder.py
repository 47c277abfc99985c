"""The project's file list: ``rg --files`` (so .gitignore/.ignore rules hold), streamed, cached.

A plain ``os.scandir`` walk is faster (shared/research/perf.md §6) but knows nothing of
ignore files, and a Python gitignore matcher would cost more than it saves; the measured
figures are in the helper report. The list is cached per root and options for
``max_age_s`` seconds and dropped at once by ``invalidate`` (file operations call it).
Ranking lives in ``orchflow_core.files.ranking``; ``rank`` is re-exported here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from orchflow_core.errors import BackendError, InvalidArgumentError, TimeoutError_
from orchflow_core.files.ranking import RankedPath, rank
from orchflow_core.search.options import glob_flags
from orchflow_core.search.ripgrep import READ_CHUNK, find_rg, read_stderr, reap, rg_errors, spawn_rg

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_AGE_S = 10.0

__all__ = ["FileIndex", "FileList", "RankedPath", "list_files", "rank"]


@dataclass(frozen=True, slots=True)
class FileList:
    """Paths relative to ``root``, sorted; ``errors`` are entries ripgrep could not read."""

    root: Path
    paths: list[str]
    errors: tuple[str, ...]
    elapsed_ms: float


async def list_files(
    root: str | os.PathLike[str],
    *,
    hidden: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow: bool = False,
    rg_path: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded wait is part of the API
) -> FileList:
    """Every file under ``root`` that ripgrep would search (ignore files respected)."""
    for name, globs in (("include", include), ("exclude", exclude)):
        if isinstance(globs, str) or not all(isinstance(g, str) and g for g in globs):
            raise InvalidArgumentError(f"{name} must be a list of non-empty globs", param=name)
    rg = find_rg(rg_path)
    root_path = Path(root)
    argv = [rg, "--files", "--no-config", "--null", *glob_flags(include, exclude)]
    argv += ["--hidden"] * hidden + ["--follow"] * follow
    started = time.perf_counter()
    # No path argument: with stdin not readable ripgrep lists "./" and prints bare paths.
    proc = await spawn_rg(argv, root_path)
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(read_stderr(proc.stderr))
    paths: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            rest = b""
            while chunk := await proc.stdout.read(READ_CHUNK):
                parts = (rest + chunk).split(b"\0")
                rest = parts.pop()
                paths.extend(map(os.fsdecode, parts))
            if rest:
                paths.append(os.fsdecode(rest))
            await reap(proc, stderr_task, kill=False)
            rc = proc.returncode or 0
            stderr = stderr_task.result()
    except TimeoutError:
        raise TimeoutError_(
            f"listing files under {root_path} took longer than {timeout:g} s", timeout=timeout
        ) from None
    finally:
        await asyncio.shield(reap(proc, stderr_task))
    errors = rg_errors(stderr)
    if rc not in (0, 1) and not (rc == 2 and paths):
        text = "; ".join(errors) or stderr.strip() or "no message"
        cls = InvalidArgumentError if "glob" in text else BackendError
        raise cls(f"listing files under {root_path} failed: {text}", path=str(root_path))
    paths.sort()
    return FileList(root_path, paths, errors, (time.perf_counter() - started) * 1000)


_Key = tuple[str, bool, tuple[str, ...], tuple[str, ...]]


class FileIndex:
    """Cached file lists per root and options; concurrent askers share one ripgrep run.

    Roots are keyed as spelled (no filesystem calls): pass one absolute spelling.
    """

    def __init__(
        self,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        rg_path: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.max_age_s = max_age_s
        self.rg_path = rg_path
        self.timeout = timeout
        self._cache: dict[_Key, tuple[float, FileList]] = {}
        self._running: dict[_Key, asyncio.Task[FileList]] = {}
        self._generation = 0

    async def files(
        self,
        root: str | os.PathLike[str],
        *,
        hidden: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        refresh: bool = False,
    ) -> FileList:
        """The file list, from cache if younger than ``max_age_s`` and not ``refresh``."""
        key: _Key = (str(PurePath(root)), hidden, tuple(include), tuple(exclude))
        cached = self._cache.get(key)
        if cached and not refresh and time.monotonic() - cached[0] < self.max_age_s:
            return cached[1]
        task = self._running.get(key)
        if task is None or refresh:
            task = asyncio.ensure_future(
                list_files(
                    key[0],
                    hidden=hidden,
                    include=key[2],
                    exclude=key[3],
                    rg_path=self.rg_path,
                    timeout=self.timeout,
                )
            )
            self._running[key] = task
            generation = self._generation
            task.add_done_callback(lambda t: self._store(key, t, generation))
        return await asyncio.shield(task)

    def invalidate(self, root: str | os.PathLike[str] | None = None) -> None:
        """Forget cached lists (of ``root`` only, if given); runs already started are not kept."""
        self._generation += 1
        if root is None:
            self._cache.clear()
            self._running.clear()
            return
        resolved = str(PurePath(root))
        for table in (self._cache, self._running):
            for key in [k for k in table if k[0] == resolved]:
                del table[key]

    def _store(self, key: _Key, task: asyncio.Task[FileList], generation: int) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if task.cancelled() or task.exception() is not None or generation != self._generation:
            return
        self._cache[key] = (time.monotonic(), task.result())
