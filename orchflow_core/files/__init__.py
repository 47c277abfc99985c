"""Project files: listing (ignore rules respected), fuzzy ranking, frecency, safe operations."""

from __future__ import annotations

from orchflow_core.files.finder import FileIndex, FileList, list_files
from orchflow_core.files.frecency import FrecencyIndex
from orchflow_core.files.ops import (
    Target,
    copy,
    create,
    delete,
    move,
    rename,
    resolve_inside,
    restore,
)
from orchflow_core.files.ranking import PathRanker, RankedPath, match_positions, rank
from orchflow_core.files.trash import Trash, TrashEntry

__all__ = [
    "FileIndex",
    "FileList",
    "FrecencyIndex",
    "PathRanker",
    "RankedPath",
    "Target",
    "Trash",
    "TrashEntry",
    "copy",
    "create",
    "delete",
    "list_files",
    "match_positions",
    "move",
    "rank",
    "rename",
    "resolve_inside",
    "restore",
]
