"""``search.*`` methods: project search streamed as events, cancel, replace preview.

``search.project`` publishes ``search.results`` events (``search_id``, ``matches`` as
dicts, ``done``) while ripgrep runs, a last one with ``done=True`` and ``summary`` (or
``error``), and returns the summary. Starting a search with the ``search_id`` of one
still running stops the old one first (live grep: one id per picker).
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from pathlib import Path
from typing import Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import OrchflowError, UnavailableError
from orchflow_core.search.options import SearchOptions
from orchflow_core.search.replace import replace_preview
from orchflow_core.search.rgjson import Match
from orchflow_core.search.ripgrep import search

_running: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Event]] = weakref.WeakKeyDictionary()


def _root(core: Any) -> Path:
    root = getattr(core, "project_root", None)
    if root is None:
        raise UnavailableError("search: no project root is set")
    return Path(root)


@METHODS.method("search.project")
async def search_project(core: Any, params: Params) -> dict[str, Any]:
    pattern = param(params, "pattern", str)
    opts = SearchOptions.from_params(params)
    sid = param(params, "search_id", str, "") or uuid.uuid4().hex[:12]
    running = _running.setdefault(core, {})
    previous = running.get(sid)
    if previous is not None:
        previous.set()
    stop = running[sid] = asyncio.Event()

    def publish(batch: list[Match]) -> None:
        core.events.publish(
            "search.results", search_id=sid, matches=[m.to_dict() for m in batch], done=False
        )

    try:
        summary = await search(_root(core), pattern, opts, on_batch=publish, stop=stop)
    except OrchflowError as exc:
        core.events.publish(
            "search.results", search_id=sid, matches=[], done=True, error=exc.message
        )
        raise
    finally:
        if running.get(sid) is stop:
            del running[sid]
    result = {"search_id": sid, **summary.to_dict()}
    core.events.publish("search.results", search_id=sid, matches=[], done=True, summary=result)
    return result


@METHODS.method("search.cancel")
async def search_cancel(core: Any, params: Params) -> dict[str, Any]:
    """Stop a running search; it then answers with ``cancelled: true``."""
    sid = param(params, "search_id", str)
    stop = _running.get(core, {}).get(sid)
    if stop is not None:
        stop.set()
    return {"search_id": sid, "cancelled": stop is not None}


@METHODS.method("search.replace_preview")
async def search_replace_preview(core: Any, params: Params) -> dict[str, Any]:
    """Per-file diffs and line hunks for replacing ``pattern`` with ``replacement``."""
    preview = await replace_preview(
        _root(core),
        param(params, "pattern", str),
        param(params, "replacement", str),
        SearchOptions.from_params(params),
    )
    return preview.to_dict()
