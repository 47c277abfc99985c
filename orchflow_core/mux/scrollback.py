"""Search the scrollback of orchflow's panes (one pane or all), by regex or literal text.

Works over any ``MuxBackend``: it reads ``capture()`` snapshots (tmux:
``capture-pane -p -J -S -``, wrapped lines joined), so it sees what tmux keeps in
history (``history-limit``), not every byte ever printed. A line where ``run()`` typed
its completion wrapper is searched and shown as the command the user ran.

The matching runs in a child interpreter (scrollback_worker.py), never on the core's
asyncio loop: the pattern is the user's, and one that backtracks exponentially would
otherwise stop every other call for as long as it runs (a thread would not help: ``re``
holds the GIL through a match). The child is killed when ``timeout_s`` runs out, and
the search answers ``PatternTimeoutError`` naming the pattern.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    PatternTimeoutError,
    UnavailableError,
)
from orchflow_core.mux.backend import MuxBackend
from orchflow_core.mux.shell_integration import unwrap_echo

DEFAULT_MAX_RESULTS = 1000
# The most seconds a search's matching may take. A sane regex goes through 10 MB of
# scrollback well within a second (plus ~20 ms to start the matcher); a pattern still
# running after 5 s is almost surely backtracking without end.
DEFAULT_TIMEOUT_S = 5.0
_WORKER = Path(__file__).with_name("scrollback_worker.py")


@dataclass(frozen=True, slots=True)
class ScrollbackHit:
    pane_id: str
    line_no: int  # 0-based line in the pane's capture, oldest history line first
    text: str


def compile_pattern(
    pattern: str, *, regex: bool = True, ignore_case: bool = False
) -> re.Pattern[str]:
    """The compiled search; InvalidArgumentError naming a pattern that is not a valid regex."""
    if not isinstance(pattern, str) or not pattern:
        raise InvalidArgumentError(f"bad search pattern {pattern!r}: expected non-empty text")
    flags = re.IGNORECASE if ignore_case else 0
    try:
        return re.compile(pattern if regex else re.escape(pattern), flags)
    except re.error as exc:
        raise InvalidArgumentError(
            f"invalid regex {pattern!r}: {exc}; pass regex=False to search literally",
            pattern=pattern,
        ) from None


def searchable_lines(text: str) -> list[str]:
    """A capture's lines as searched and shown (run()'s wrapper lines read as the command)."""
    lines = text.split("\n")
    if "orchflow-done" in text:
        lines = [unwrap_echo(line) if "orchflow-done" in line else line for line in lines]
    return lines


async def search_scrollback(
    backend: MuxBackend,
    pattern: str,
    *,
    pane_id: str | None = None,
    session: str | None = None,
    regex: bool = True,
    ignore_case: bool = False,
    max_results: int = DEFAULT_MAX_RESULTS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[ScrollbackHit]:
    """Lines matching ``pattern`` in one pane, or in every orchflow pane (of ``session``).

    ``timeout_s`` bounds the matching (the captures have tmux's own command timeout):
    past it the search raises ``PatternTimeoutError``. Other calls go on meanwhile.
    """
    compiled = compile_pattern(pattern, regex=regex, ignore_case=ignore_case)
    if max_results < 1:
        raise InvalidArgumentError(f"max_results must be >= 1, got {max_results}")
    if not timeout_s > 0:
        raise InvalidArgumentError(f"timeout_s must be > 0, got {timeout_s}")
    if pane_id is not None:
        pane_ids = [pane_id]
    else:
        pane_ids = [p.pane_id for p in await backend.list_panes(session)]
    panes: list[tuple[str, list[str]]] = []
    for pid in pane_ids:
        try:
            text = await backend.capture(pid)
        except NotFoundError:
            if pane_id is not None:
                raise
            continue  # closed while we searched the others
        panes.append((pid, searchable_lines(text)))
    return await match_lines(
        compiled, panes, max_results=max_results, timeout_s=timeout_s, shown=pattern
    )


async def match_lines(
    compiled: re.Pattern[str],
    panes: Sequence[tuple[str, Sequence[str]]],
    *,
    max_results: int = DEFAULT_MAX_RESULTS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    shown: str | None = None,
) -> list[ScrollbackHit]:
    """The lines of ``panes`` (``(pane_id, lines)``) that ``compiled`` matches, in order.

    Matched in a child interpreter, killed after ``timeout_s`` (or when the caller is
    cancelled); then ``PatternTimeoutError`` naming ``shown`` (default: the pattern).
    """
    if not any(lines for _, lines in panes):
        return []
    if not sys.executable:
        raise UnavailableError("scrollback search needs a Python executable for its matcher")
    request = {
        "pattern": compiled.pattern,
        "flags": int(compiled.flags),
        "max_results": max_results,
        "panes": [[pid, list(lines)] for pid, lines in panes],
    }
    try:
        payload = orjson.dumps(request)
    except TypeError:  # a lone surrogate: the stdlib escapes it as \udxxx
        payload = json.dumps(request).encode("ascii")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",  # isolated: no PYTHON* variables, no user site, no script or cwd on sys.path
        "-S",  # no site-packages either: the worker needs the standard library only
        str(_WORKER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/",
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate(payload)
    except TimeoutError:
        name = compiled.pattern if shown is None else shown
        raise PatternTimeoutError(
            f"search pattern {name!r} took too long: no result within {timeout_s:g} s."
            " Nested repeats such as (a+)+ can take forever; simplify it or search literally",
            pattern=name,
            timeout_s=timeout_s,
        ) from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: stop it burning a CPU
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        why = err.decode(errors="replace").strip().splitlines()
        raise BackendError(
            f"scrollback search failed: {why[-1] if why else f'exit {proc.returncode}'}"
        )
    return [ScrollbackHit(panes[i][0], n, panes[i][1][n]) for i, n in json.loads(out)]
