"""What a project search asks ripgrep for, validated, and the ``rg`` arguments it becomes.

Pure: no I/O. ``SearchOptions.from_params`` turns a JSON-RPC/Lua table into options
with errors that name the bad field; ``rg_flags`` maps them to ripgrep flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from orchflow_core.errors import InvalidArgumentError

Case = Literal["smart", "sensitive", "insensitive"]
CASES: tuple[Case, ...] = ("smart", "sensitive", "insensitive")
MAX_CONTEXT = 20
MAX_RESULTS_LIMIT = 1_000_000

_CASE_FLAGS: dict[str, str] = {
    "smart": "--smart-case",
    "sensitive": "--case-sensitive",
    "insensitive": "--ignore-case",
}


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """How to search. Defaults match what a user expects from ``rg PATTERN``.

    ``include``/``exclude`` are ripgrep globs (``*.py``, ``docs/**``); excludes win over
    includes. ``max_results`` caps matching lines: ripgrep is stopped once reached.
    ``follow`` follows symbolic links (a dangling one is then reported as an error).
    """

    case: Case = "smart"
    whole_word: bool = False
    literal: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    hidden: bool = False
    follow: bool = False
    max_results: int | None = 10_000
    context: int = 0

    def __post_init__(self) -> None:
        if self.case not in CASES:
            raise InvalidArgumentError(
                f"case must be one of {', '.join(CASES)}, got {self.case!r}", param="case"
            )
        for name in ("whole_word", "literal", "hidden", "follow"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgumentError(f"{name} must be true or false", param=name)
        for name in ("include", "exclude"):
            _check_globs(name, getattr(self, name))
        if self.max_results is not None and (
            not _is_int(self.max_results) or not 1 <= self.max_results <= MAX_RESULTS_LIMIT
        ):
            raise InvalidArgumentError(
                f"max_results must be an integer from 1 to {MAX_RESULTS_LIMIT}"
                f" (or null for no cap), got {self.max_results!r}",
                param="max_results",
            )
        if not _is_int(self.context) or not 0 <= self.context <= MAX_CONTEXT:
            raise InvalidArgumentError(
                f"context must be an integer from 0 to {MAX_CONTEXT}, got {self.context!r}",
                param="context",
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SearchOptions:
        """Options from a params table; unknown keys are ignored (they belong to the caller)."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            if key not in known or value is None:
                continue
            if key in ("include", "exclude"):
                if isinstance(value, str):
                    value = (value,)
                elif isinstance(value, Sequence):
                    value = tuple(value)
                else:
                    raise InvalidArgumentError(f"{key} must be a list of globs", param=key)
            kwargs[key] = value
        return cls(**kwargs)

    def rg_flags(self) -> list[str]:
        """ripgrep flags for these options (pattern and paths not included)."""
        flags = [_CASE_FLAGS[self.case]]
        if self.whole_word:
            flags.append("--word-regexp")
        if self.literal:
            flags.append("--fixed-strings")
        flags += glob_flags(self.include, self.exclude)
        if self.hidden:
            flags.append("--hidden")
        if self.follow:
            flags.append("--follow")
        if self.context:
            flags += ["--context", str(self.context)]
        return flags


def glob_flags(include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """``--glob`` flags; excludes come last because ripgrep lets later globs win."""
    flags: list[str] = []
    for glob in include:
        flags += ["--glob", glob]
    for glob in exclude:
        flags += ["--glob", glob if glob.startswith("!") else "!" + glob]
    return flags


def check_pattern(pattern: object) -> str:
    """The pattern if ripgrep can take it as one line; regex syntax is left to ripgrep."""
    if not isinstance(pattern, str) or not pattern:
        raise InvalidArgumentError("pattern must be a non-empty string", param="pattern")
    if "\n" in pattern or "\x00" in pattern:
        raise InvalidArgumentError(
            "pattern must be a single line without NUL bytes", param="pattern"
        )
    return pattern


def _check_globs(name: str, globs: object) -> None:
    if not isinstance(globs, tuple):
        raise InvalidArgumentError(f"{name} must be a list of globs", param=name)
    for glob in globs:
        if not isinstance(glob, str) or not glob or "\x00" in glob or "\n" in glob:
            raise InvalidArgumentError(
                f"{name} globs must be non-empty single-line strings, got {glob!r}", param=name
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
