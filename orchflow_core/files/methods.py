"""``files.*`` methods: list/rank the project's files, record opens, file operations, trash.

Handlers use ``core.project_root`` (the root every path must stay inside) and
``core.state_dir`` (trash and frecency live there). Paths in and out are relative to the
root (absolute ones inside it are accepted too). Every change publishes
``files.changed`` (``op``, ``paths``) and drops the cached file list.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import InvalidArgumentError, UnavailableError
from orchflow_core.files import ops
from orchflow_core.files.finder import FileIndex
from orchflow_core.files.frecency import FrecencyIndex
from orchflow_core.files.ranking import DEFAULT_LIMIT, rank
from orchflow_core.files.trash import Trash

MAX_LIMIT = 10_000


@dataclass
class FilesState:
    """What the files methods keep per core: the list cache, the trash, frecency per root."""

    state_dir: Path
    index: FileIndex = field(default_factory=FileIndex)
    frecency: dict[Path, FrecencyIndex] = field(default_factory=dict)

    @property
    def trash(self) -> Trash:
        return Trash(self.state_dir / "trash")

    def frecency_for(self, root: Path) -> FrecencyIndex:
        if root not in self.frecency:
            self.frecency[root] = FrecencyIndex.for_project(self.state_dir, root)
        return self.frecency[root]


_states: weakref.WeakKeyDictionary[Any, FilesState] = weakref.WeakKeyDictionary()


def files_state(core: Any) -> FilesState:
    state = _states.get(core)
    if state is None:
        state_dir = getattr(core, "state_dir", None)
        if state_dir is None:
            raise UnavailableError("files: the core has no state_dir")
        state = _states[core] = FilesState(Path(state_dir))
    return state


def project_root(core: Any) -> Path:
    root = getattr(core, "project_root", None)
    if root is None:
        raise UnavailableError("files: no project root is set")
    return Path(root).resolve()


def _changed(core: Any, op: str, *paths: str) -> None:
    files_state(core).index.invalidate(project_root(core))
    core.events.publish("files.changed", op=op, paths=list(paths))


@METHODS.method("files.list")
async def files_list(core: Any, params: Params) -> dict[str, Any]:
    """All files (``files``: paths), or with ``query`` the best ``limit`` ranked ones
    (``files``: ``{path, score, positions}``)."""
    root = project_root(core)
    state = files_state(core)
    listing = await state.index.files(
        root,
        hidden=param(params, "hidden", bool, False),
        include=_globs(params, "include"),
        exclude=_globs(params, "exclude"),
        refresh=param(params, "refresh", bool, False),
    )
    out: dict[str, Any] = {"root": str(root), "total": len(listing.paths)}
    out["errors"] = list(listing.errors)
    if "query" in params and params["query"] is not None:
        ranked = rank(
            param(params, "query", str),
            listing.paths,
            limit=_limit(params, DEFAULT_LIMIT) or DEFAULT_LIMIT,
            frecency=state.frecency_for(root),
        )
        out["files"] = [r.to_dict() for r in ranked]
    else:
        limit = _limit(params, None)
        out["files"] = listing.paths if limit is None else listing.paths[:limit]
    return out


@METHODS.method("files.record_open")
async def files_record_open(core: Any, params: Params) -> dict[str, Any]:
    """Count an open of ``path`` for frecency (call it from BufEnter of project files)."""
    root = project_root(core)
    target = ops.resolve_inside(root, param(params, "path", str))
    score = await asyncio.to_thread(files_state(core).frecency_for(root).record_open, target.rel)
    return {"path": target.rel, "score": score}


@METHODS.method("files.create")
async def files_create(core: Any, params: Params) -> dict[str, Any]:
    kind: ops.EntryKind = "dir" if param(params, "kind", str, "file") == "dir" else "file"
    if params.get("kind", "file") not in ("file", "dir"):
        raise InvalidArgumentError(
            f"kind must be 'file' or 'dir', got {params.get('kind')!r}", param="kind"
        )
    content = param(params, "content", str, "").encode()
    t = await asyncio.to_thread(
        ops.create, project_root(core), param(params, "path", str), kind=kind, content=content
    )
    _changed(core, "create", t.rel)
    return {"path": t.rel, "kind": kind}


async def _relocate(core: Any, params: Params, verb: str, target_param: str) -> dict[str, Any]:
    """files.rename / files.move: the same steps; open-file frecency follows the path."""
    root = project_root(core)
    src = ops.resolve_inside(root, param(params, "path", str))
    op = ops.rename if verb == "rename" else ops.move
    t = await asyncio.to_thread(op, root, src.path, param(params, target_param, str))
    await asyncio.to_thread(files_state(core).frecency_for(root).rename, src.rel, t.rel)
    _changed(core, verb, src.rel, t.rel)
    return {"from": src.rel, "path": t.rel}


@METHODS.method("files.rename")
async def files_rename(core: Any, params: Params) -> dict[str, Any]:
    return await _relocate(core, params, "rename", "name")


@METHODS.method("files.move")
async def files_move(core: Any, params: Params) -> dict[str, Any]:
    return await _relocate(core, params, "move", "to")


@METHODS.method("files.copy")
async def files_copy(core: Any, params: Params) -> dict[str, Any]:
    root = project_root(core)
    src = ops.resolve_inside(root, param(params, "path", str))
    t = await asyncio.to_thread(ops.copy, root, src.path, param(params, "to", str))
    _changed(core, "copy", t.rel)
    return {"from": src.rel, "path": t.rel}


@METHODS.method("files.delete")
async def files_delete(core: Any, params: Params) -> dict[str, Any]:
    """Move ``path`` to orchflow's trash; the answer carries the ``id`` for files.restore."""
    root = project_root(core)
    state = files_state(core)
    entry = await asyncio.to_thread(ops.delete, root, param(params, "path", str), state.trash)
    result = entry.to_dict(root)
    _changed(core, "delete", result.get("path", str(entry.original)))
    return result


@METHODS.method("files.restore")
async def files_restore(core: Any, params: Params) -> dict[str, Any]:
    root = project_root(core)
    t = await asyncio.to_thread(
        ops.restore, root, param(params, "id", str), files_state(core).trash
    )
    _changed(core, "restore", t.rel)
    return {"path": t.rel}


@METHODS.method("files.trash")
async def files_trash(core: Any, params: Params) -> dict[str, Any]:
    """Trash entries, newest first: this project's only unless ``all`` is true."""
    root = project_root(core)
    every = param(params, "all", bool, False)
    entries = await asyncio.to_thread(files_state(core).trash.list)
    return {
        "entries": [e.to_dict(root) for e in entries if every or e.original.is_relative_to(root)]
    }


def _globs(params: Params, name: str) -> tuple[str, ...]:
    value = params.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(g, str) and g for g in value):
        return tuple(value)
    raise InvalidArgumentError(f"{name} must be a list of globs", param=name)


def _limit(params: Params, default: int | None) -> int | None:
    limit = param(params, "limit", int, default)
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(
            f"limit must be from 1 to {MAX_LIMIT}, got {limit}", param="limit"
        )
    return limit
