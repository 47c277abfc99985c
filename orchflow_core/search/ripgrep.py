"""Project search: ``rg --json`` as an asyncio subprocess, matches pushed as they stream.

The first match is handed to ``on_batch`` as soon as ripgrep prints it; later ones are
coalesced for ``batch_interval_ms`` so a UI redraws a few times a second, not per line.
ripgrep is killed when ``max_results`` is reached, when ``stop`` is set, when the
``timeout`` runs out, and when the awaiting task is cancelled: no orphan ``rg`` is left.
Per-file errors (unreadable entries, dangling links) are collected in the summary and
do not stop the search; a bad pattern or glob raises ``InvalidArgumentError`` carrying
ripgrep's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.search.options import SearchOptions, check_pattern
from orchflow_core.search.rgjson import Match, RgJsonParser

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
DEFAULT_BATCH_INTERVAL_MS = 30.0
DEFAULT_MAX_BATCH = 1000
READ_CHUNK = 1 << 16
MAX_ERRORS = 100

BatchCallback = Callable[[list[Match]], None]


@dataclass(frozen=True, slots=True)
class SearchSummary:
    """How a search ended. ``matches`` is filled only when no ``on_batch`` was given.

    ``first_batch_ms`` is measured from spawning rg. (ripgrep's own ``searches`` count is
    left out: in JSON mode it counts only files that printed something.)
    """

    pattern: str
    match_count: int
    files_with_matches: int
    elapsed_ms: float
    first_batch_ms: float | None
    truncated: bool
    cancelled: bool
    errors: tuple[str, ...]
    matches: tuple[Match, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "match_count": self.match_count,
            "files_with_matches": self.files_with_matches,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "first_batch_ms": None
            if self.first_batch_ms is None
            else round(self.first_batch_ms, 3),
            "truncated": self.truncated,
            "cancelled": self.cancelled,
            "errors": list(self.errors),
        }


def find_rg(rg_path: str | os.PathLike[str] | None = None) -> str:
    """The ripgrep binary: ``rg_path``, else ``rg`` on PATH, else next to this Python."""
    if rg_path is not None:
        if os.path.isfile(rg_path) and os.access(rg_path, os.X_OK):
            return os.fspath(rg_path)
        raise UnavailableError(f"ripgrep (rg) not found: {rg_path} is not an executable file")
    found = shutil.which("rg")
    if found:
        return found
    local = Path(sys.executable).parent / "rg"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    raise UnavailableError(
        f"ripgrep (rg) not found: not on PATH nor next to {sys.executable};"
        " install it (`make install` adds the ripgrep wheel, or use your package manager)"
    )


class _Batcher:
    """First match out at once, then at most one batch per interval (or per ``max_batch``)."""

    def __init__(self, sink: BatchCallback, interval_s: float, max_batch: int) -> None:
        self._sink = sink
        self._interval = interval_s
        self._max = max_batch
        self._pending: list[Match] = []
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.first_at: float | None = None
        self.error: BaseException | None = None
        self.on_error: Callable[[], None] = lambda: None

    def add(self, match: Match) -> None:
        self._pending.append(match)
        now = time.perf_counter()
        if (
            self.first_at is None
            or len(self._pending) >= self._max
            or now - self._last >= self._interval
        ):
            self.flush()
        elif self._timer is None:
            delay = self._interval - (now - self._last)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def flush(self) -> None:
        self.cancel_timer()
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self._last = time.perf_counter()
        if self.first_at is None:
            self.first_at = self._last
        self._sink(batch)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception as exc:  # raised again by the read loop, which owns the error path
            self.error = exc
            self.on_error()


async def search(
    root: str | os.PathLike[str],
    pattern: str,
    opts: SearchOptions | None = None,
    *,
    on_batch: BatchCallback | None = None,
    batch_interval_ms: float = DEFAULT_BATCH_INTERVAL_MS,
    max_batch: int = DEFAULT_MAX_BATCH,
    rg_path: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded wait is part of the API
    stop: asyncio.Event | None = None,
) -> SearchSummary:
    """Search the files under ``root`` for ``pattern``; push matches to ``on_batch``.

    ``on_batch`` is called on the loop thread with lists of ``Match`` (the first list has
    exactly one). Setting ``stop`` ends the search early with ``cancelled=True``; cancelling
    the awaiting task kills ripgrep and re-raises. ``timeout`` (default 30 s) bounds the
    whole search and raises ``TimeoutError_``.
    """
    pattern = check_pattern(pattern)
    opts = opts or SearchOptions()
    rg = find_rg(rg_path)
    root_path = Path(root)
    argv = [rg, "--json", "--no-config", *opts.rg_flags(), "--regexp", pattern, "--", "."]
    collected: list[Match] = []
    batcher = _Batcher(on_batch or collected.extend, batch_interval_ms / 1000, max_batch)
    parser = RgJsonParser(context=opts.context)
    cap = opts.max_results
    count = 0
    truncated = False
    started = time.perf_counter()
    log.debug("search %r in %s", pattern, root_path)
    proc = await spawn_rg(argv, root_path)
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(read_stderr(proc.stderr))
    batcher.on_error = lambda: _kill(proc)
    watcher: asyncio.Task[Any] | None = None
    if stop is not None:
        watcher = asyncio.create_task(stop.wait())
        watcher.add_done_callback(lambda _: _kill(proc))
    try:
        async with asyncio.timeout(timeout):
            rest = b""
            while not truncated:
                chunk = await proc.stdout.read(READ_CHUNK)
                if not chunk:
                    # ripgrep ends every message with a newline: a tail without one was cut
                    # short by a kill, so it is dropped.
                    lines = []
                else:
                    lines = (rest + chunk).split(b"\n")
                    rest = lines.pop()
                for line in lines:
                    for match in parser.feed(line):
                        count += 1
                        batcher.add(match)
                        if cap is not None and count >= cap:
                            truncated = True
                            break
                    if truncated:
                        break
                if batcher.error is not None:
                    raise batcher.error
                if not chunk:
                    break
            if truncated:
                _kill(proc)
            else:
                for match in parser.finish():
                    count += 1
                    batcher.add(match)
            batcher.flush()
            await reap(proc, stderr_task, kill=False)
            rc = proc.returncode or 0
            stderr = stderr_task.result()
    except TimeoutError:
        raise TimeoutError_(
            f"search for {pattern!r} took longer than {timeout:g} s; ripgrep was stopped",
            timeout=timeout,
        ) from None
    finally:
        batcher.cancel_timer()
        if watcher is not None:
            watcher.cancel()
        await asyncio.shield(reap(proc, stderr_task))
    cancelled = stop is not None and stop.is_set() and not truncated
    errors = rg_errors(stderr)
    if not (truncated or cancelled):
        _raise_if_fatal(rc, parser.stats is not None, stderr, pattern)
    elapsed = (time.perf_counter() - started) * 1000
    return SearchSummary(
        pattern=pattern,
        match_count=count,
        files_with_matches=parser.files_with_matches,
        elapsed_ms=elapsed,
        first_batch_ms=None if batcher.first_at is None else (batcher.first_at - started) * 1000,
        truncated=truncated,
        cancelled=cancelled,
        errors=errors,
        matches=tuple(collected),
    )


async def spawn_rg(argv: list[str], cwd: Path) -> asyncio.subprocess.Process:
    """Start ripgrep in ``cwd`` with stdin closed (so it never waits on a terminal)."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"{cwd} is not a directory", path=str(cwd)) from None


async def reap(
    proc: asyncio.subprocess.Process,
    stderr_task: asyncio.Task[str],
    *,
    kill: bool = True,
    timeout: float = 5.0,  # noqa: ASYNC109 - bounded wait is part of the API
) -> None:
    """Drain ripgrep's pipes and wait for it (killing it first if ``kill``).

    ``Process.wait()`` returns only once the pipes are closed too, so an undrained pipe
    would hang it; draining also lets the transport close before the loop does.
    """
    if kill:
        _kill(proc)
    try:
        async with asyncio.timeout(timeout):
            if proc.stdout is not None:
                while await proc.stdout.read(READ_CHUNK):
                    pass
            await proc.wait()
            await stderr_task
    except TimeoutError:  # pragma: no cover - a SIGKILLed process cannot hold its pipes
        log.warning("ripgrep %s did not go away within %s s", proc.pid, timeout)


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def read_stderr(stream: asyncio.StreamReader, *, limit: int = 1 << 16) -> str:
    """All of ripgrep's stderr, keeping the first ``limit`` bytes."""
    kept = bytearray()
    while chunk := await stream.read(READ_CHUNK):
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return kept.decode("utf-8", "replace")


def rg_errors(stderr: str) -> tuple[str, ...]:
    """One entry per ``rg: ...`` message (continuation lines joined), at most MAX_ERRORS."""
    errors: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("rg: "):
            errors.append(line[4:].removeprefix("./"))
        elif errors and line.strip():
            errors[-1] += "\n" + line
    if len(errors) > MAX_ERRORS:
        errors = [*errors[:MAX_ERRORS], f"... and {len(errors) - MAX_ERRORS} more errors"]
    return tuple(errors)


def _raise_if_fatal(rc: int, got_summary: bool, stderr: str, pattern: str) -> None:
    """ripgrep exits 2 both for per-file errors and fatal ones; only the latter lack a summary."""
    if rc in (0, 1) or (rc == 2 and got_summary):
        return
    text = "\n".join(line.removeprefix("rg: ") for line in stderr.strip().splitlines())
    if rc == 2 and ("regex" in text or "literal" in text):
        raise InvalidArgumentError(f"invalid pattern {pattern!r}: {text}", param="pattern")
    if rc == 2 and "glob" in text:
        raise InvalidArgumentError(f"invalid glob: {text}", param="include/exclude")
    raise BackendError(f"ripgrep failed (exit {rc}): {text or 'no message'}", exit_code=rc)
