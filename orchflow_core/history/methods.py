"""``history.*`` methods for the Neovim host and JSON-RPC (registered in api.METHODS on import).

Each reads ``core.history`` (a HistoryStore); without one the method answers
``unavailable: command history is not open`` instead of pretending.

    history.add      {command, cwd?, pane_type?, exit_code?, duration_s?, ts?} -> {id}
    history.search   {query, limit=50, cwd?}     -> [FrecentCommand]
    history.top      {n=20, cwd?}                -> [FrecentCommand]
    history.suggest  {prefix, limit=10, cwd?}    -> [FrecentCommand]
    history.import   {path, format="auto"}       -> {format, imported, skipped, duplicates}
                     format: auto | bash | zsh | fish | json
    history.export   {path, overwrite=false}     -> {exported, path}
    history.prune    {older_than_days}           -> {removed}

FrecentCommand = {command, frecency, score, runs, failures, last_ts, last_exit_code}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import UnavailableError
from orchflow_core.history.store import FrecentCommand, HistoryStore

if TYPE_CHECKING:
    from orchflow_core.core import Core

NUMBER = (int, float)


async def _history(core: Core) -> HistoryStore:
    """The core's history store, opened on first need (the state DB opens with it)."""
    start = getattr(core, "start", None)
    if start is not None:
        await start()
    store = getattr(core, "history", None)
    if not isinstance(store, HistoryStore):
        raise UnavailableError("command history is not open")
    return store


def _listed(rows: list[FrecentCommand]) -> list[dict[str, Any]]:
    return [row.to_dict() for row in rows]


@METHODS.method("history.add")
async def history_add(core: Core, params: Params) -> dict[str, Any]:
    row_id = await (await _history(core)).add(
        param(params, "command", str),
        cwd=param(params, "cwd", str, None),
        pane_type=param(params, "pane_type", str, None),
        exit_code=param(params, "exit_code", int, None),
        duration_s=param(params, "duration_s", NUMBER, None),
        ts=param(params, "ts", NUMBER, None),
    )
    return {"id": row_id}


@METHODS.method("history.search")
async def history_search(core: Core, params: Params) -> list[dict[str, Any]]:
    rows = await (await _history(core)).search(
        param(params, "query", str),
        limit=param(params, "limit", int, 50),
        cwd=param(params, "cwd", str, None),
    )
    return _listed(rows)


@METHODS.method("history.top")
async def history_top(core: Core, params: Params) -> list[dict[str, Any]]:
    rows = await (await _history(core)).top(
        param(params, "n", int, 20), cwd=param(params, "cwd", str, None)
    )
    return _listed(rows)


@METHODS.method("history.suggest")
async def history_suggest(core: Core, params: Params) -> list[dict[str, Any]]:
    rows = await (await _history(core)).suggest(
        param(params, "prefix", str),
        limit=param(params, "limit", int, 10),
        cwd=param(params, "cwd", str, None),
    )
    return _listed(rows)


@METHODS.method("history.import")
async def history_import(core: Core, params: Params) -> dict[str, Any]:
    report = await (await _history(core)).import_shell(
        param(params, "path", str), param(params, "format", str, "auto")
    )
    return report.to_dict()


@METHODS.method("history.export")
async def history_export(core: Core, params: Params) -> dict[str, Any]:
    path = param(params, "path", str)
    count = await (await _history(core)).export_json(
        path, overwrite=param(params, "overwrite", bool, False)
    )
    return {"exported": count, "path": path}


@METHODS.method("history.prune")
async def history_prune(core: Core, params: Params) -> dict[str, Any]:
    removed = await (await _history(core)).prune(param(params, "older_than_days", NUMBER))
    return {"removed": removed}
