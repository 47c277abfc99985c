"""``search.*`` methods: project search streamed as events, cancel, replace preview.

``search.project`` publishes ``search.results`` events (``search_id``, ``matches`` as
dicts, ``done``) while ripgrep runs, a last one with ``done=True`` and ``summary`` (or
``error``), and returns the summary. Starting a search with the ``search_id`` of one
still running stops the old one first (live grep: one id per picker).

A running search belongs to the caller that started it: ``search.cancel``, or a new
``search.project`` with its ``search_id``, from another caller is ``NotFoundError``, as
if the search did not exist. The caller is ``CALLER``, a context variable: the Neovim
host has a single caller (the default, ``"host"``); a server that serves several
connections sets it to the connection for the duration of each request
(``CALLER.set(ctx.id)`` before ``dispatch``).
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
import weakref
from pathlib import Path
from typing import Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import NotFoundError, OrchflowError, UnavailableError
from orchflow_core.search.options import SearchOptions
from orchflow_core.search.replace import replace_preview
from orchflow_core.search.rgjson import Match
from orchflow_core.search.ripgrep import search

CALLER: contextvars.ContextVar[object] = contextvars.ContextVar("search_caller", default="host")

# core -> search_id -> (the caller that started it, the event that stops it)
_running: weakref.WeakKeyDictionary[Any, dict[str, tuple[object, asyncio.Event]]] = (
    weakref.WeakKeyDictionary()
)


def _own(running: dict[str, tuple[object, asyncio.Event]], sid: str) -> asyncio.Event | None:
    """The stop event of the caller's running search ``sid``; None if none runs.

    Another caller's search is NotFoundError: ids are not secrets, so a search is only
    stopped or replaced by whoever started it.
    """
    entry = running.get(sid)
    if entry is None:
        return None
    owner, stop = entry
    if owner != CALLER.get():
        raise NotFoundError(f"no running search {sid!r} of this caller", search_id=sid)
    return stop


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
    previous = _own(running, sid)
    if previous is not None:
        previous.set()
    stop = asyncio.Event()
    running[sid] = (CALLER.get(), stop)

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
        if running.get(sid, (None, None))[1] is stop:
            del running[sid]
    result = {"search_id": sid, **summary.to_dict()}
    core.events.publish("search.results", search_id=sid, matches=[], done=True, summary=result)
    return result


@METHODS.method("search.cancel")
async def search_cancel(core: Any, params: Params) -> dict[str, Any]:
    """Stop a running search; it then answers with ``cancelled: true``.

    ``cancelled`` is false when no search runs under ``search_id`` (it may have just
    ended); another caller's search is NotFoundError.
    """
    sid = param(params, "search_id", str)
    stop = _own(_running.get(core, {}), sid)
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
