"""Project search over ripgrep: streamed matches, options, search-and-replace preview."""

from __future__ import annotations

from orchflow_core.search.options import SearchOptions
from orchflow_core.search.replace import FileReplacement, Hunk, ReplacePreview, replace_preview
from orchflow_core.search.rgjson import Match
from orchflow_core.search.ripgrep import SearchSummary, find_rg, search

__all__ = [
    "FileReplacement",
    "Hunk",
    "Match",
    "ReplacePreview",
    "SearchOptions",
    "SearchSummary",
    "find_rg",
    "replace_preview",
    "search",
]
