"""Every mode there is for one project: shipped, the user's, the project's.

Directories, in order:

1. ``orchflow_core/modes/builtin/*.toml`` (ship with orchflow);
2. ``modes/*.toml`` next to config.toml (the user's; one may replace a shipped mode of the
   same name, and says so in ``overrides``);
3. the project's ``.orchflow/modes/*.toml`` (it can add modes, not replace one: a project
   file is data from the repository, and a mode's preamble goes into prompts).

A file that cannot be used is a problem (``file:line: why``); the rest still load. The
scan is cached per directory on the names, sizes and mtimes of its files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from orchflow_core.modes.modefile import Mode, ModeError, read_mode_file

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "builtin"
PROJECT_MODES = Path(".orchflow") / "modes"
MAX_FILES = 200

_Stamp = tuple[tuple[str, int, int], ...]


def user_dir() -> Path:
    from orchflow_core import paths

    return paths.config_file().parent / "modes"


def _stamp(directory: Path) -> _Stamp:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return ()
    out = []
    for entry in entries:
        if entry.name.endswith(".toml"):
            try:
                st = entry.stat()
            except OSError:
                continue
            out.append((entry.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


class ModeCatalog:
    def __init__(self) -> None:
        self._dirs: dict[Path, tuple[_Stamp, list[Mode], list[str]]] = {}

    def _read_dir(self, directory: Path, source: str) -> tuple[list[Mode], list[str]]:
        stamp = _stamp(directory)
        hit = self._dirs.get(directory)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        modes: list[Mode] = []
        problems: list[str] = []
        for name, _mtime, _size in stamp[:MAX_FILES]:
            try:
                modes.append(read_mode_file(directory / name, source=source))
            except ModeError as exc:
                problems.append(str(exc))
        if len(stamp) > MAX_FILES:
            problems.append(
                f"{directory}: {len(stamp)} mode files; only the first {MAX_FILES} read"
            )
        for problem in problems:
            log.warning("modes: %s", problem)
        if len(self._dirs) > 64:
            self._dirs.clear()
        self._dirs[directory] = (stamp, modes, problems)
        return modes, problems

    def load(
        self, project: str | None, modules: Sequence[tuple[str, str]] = ()
    ) -> tuple[dict[str, Mode], list[str]]:
        """(name -> mode, problems) for ``project`` (a directory, or None for none).
        ``modules``: (module, mode file) the enabled modules contribute; they add modes
        after the shipped ones and cannot replace one (the user's and the project's come
        after them, as for shipped modes)."""
        found: dict[str, Mode] = {}
        problems: list[str] = []
        for module, path in modules:
            try:
                mode = read_mode_file(Path(path), source=f"module {module}")
            except ModeError as exc:
                problems.append(str(exc))
                continue
            earlier = found.get(mode.name)
            if earlier is not None:
                problems.append(
                    f"{path}:1: mode {mode.name!r} is taken by {earlier.path}; module"
                    f" {module!r} cannot replace it"
                )
                continue
            found[mode.name] = mode
        contributed = dict(found)
        found = {}
        layers = [(BUILTIN_DIR, "builtin"), (user_dir(), "user")]
        if project is not None:
            layers.append((Path(project) / PROJECT_MODES, "project"))
        for directory, source in layers:
            modes, bad = self._read_dir(directory, source)
            if source == "user":  # the modules' modes come between shipped and user ones
                for name, mode in contributed.items():
                    if name in found:
                        problems.append(
                            f"{mode.path}:1: mode {name!r} is shipped with orchflow; module"
                            f" {mode.source.removeprefix('module ')!r} cannot replace it"
                        )
                    else:
                        found[name] = mode
            problems += bad
            seen_here: set[str] = set()
            for mode in modes:
                if mode.name in seen_here:
                    problems.append(
                        f"{mode.path}:1: mode {mode.name!r} is defined twice in {directory};"
                        " this one is left out"
                    )
                    continue
                seen_here.add(mode.name)
                earlier = found.get(mode.name)
                if earlier is not None and source == "project":
                    problems.append(
                        f"{mode.path}:1: mode {mode.name!r} is taken by {earlier.path}; a"
                        " project cannot replace it (give this mode another name)"
                    )
                    continue
                found[mode.name] = (
                    replace(mode, overrides=earlier.path) if earlier is not None else mode
                )
        return found, problems
