"""Search the scrollback of orchflow's panes (one pane or all), by regex or literal text.

Works over any ``MuxBackend``: it reads ``capture()`` snapshots (tmux:
``capture-pane -p -J -S -``, wrapped lines joined), so it sees what tmux keeps in
history (``history-limit``), not every byte ever printed. A line where ``run()`` typed
its completion wrapper is searched and shown as the command the user ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.mux.backend import MuxBackend
from orchflow_core.mux.shell_integration import unwrap_echo

DEFAULT_MAX_RESULTS = 1000


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


async def search_scrollback(
    backend: MuxBackend,
    pattern: str,
    *,
    pane_id: str | None = None,
    session: str | None = None,
    regex: bool = True,
    ignore_case: bool = False,
    max_results: int = DEFAULT_MAX_RESULTS,
) -> list[ScrollbackHit]:
    """Lines matching ``pattern`` in one pane, or in every orchflow pane (of ``session``)."""
    compiled = compile_pattern(pattern, regex=regex, ignore_case=ignore_case)
    if max_results < 1:
        raise InvalidArgumentError(f"max_results must be >= 1, got {max_results}")
    if pane_id is not None:
        pane_ids = [pane_id]
    else:
        pane_ids = [p.pane_id for p in await backend.list_panes(session)]
    hits: list[ScrollbackHit] = []
    for pid in pane_ids:
        try:
            text = await backend.capture(pid)
        except NotFoundError:
            if pane_id is not None:
                raise
            continue  # closed while we searched the others
        for line_no, raw in enumerate(text.split("\n")):
            line = unwrap_echo(raw) if "orchflow-done" in raw else raw
            if compiled.search(line):
                hits.append(ScrollbackHit(pid, line_no, line))
                if len(hits) >= max_results:
                    return hits
    return hits
