"""Where modules come from, in precedence order (a name taken earlier wins):

1. built-in: orchflow's own packages that carry a manifest.json (the test runner, templates);
2. Python entry points in the group ``orchflow.modules``: each names an importable package
   whose folder holds manifest.json (found without importing it);
3. the user's config dir: ``<dir of config.toml>/modules/<folder>/``;
4. the project's ``.orchflow/modules/<folder>/``, only once the project is trusted
   (``module.trust``); before that they are listed as untrusted and nothing of them runs.

Synchronous (reads directories): call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from orchflow_core import paths

ENTRY_POINT_GROUP = "orchflow.modules"
BUILTIN_PACKAGES = ("orchflow_core.testing", "orchflow_core.templates")
SOURCES = ("builtin", "entry_point", "user", "project")
MAX_FOLDERS = 500


@dataclass(frozen=True, slots=True)
class Found:
    source: str
    folder: Path
    error: str | None = None  # an entry point that names no folder


def builtin_folders() -> list[Path]:
    root = Path(__file__).resolve().parents[1]
    return [root / pkg.split(".", 1)[1] for pkg in BUILTIN_PACKAGES]


def user_dir() -> Path:
    return paths.config_file().parent / "modules"


def project_dir(project: Path) -> Path:
    return project / ".orchflow" / "modules"


def _folders(base: Path) -> list[Path]:
    try:
        subs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    return subs[:MAX_FOLDERS]


def _entry_points(search_path: list[str] | None) -> list[Found]:
    # Imported here: importlib.metadata costs ~10 ms, and this module is imported when the
    # Neovim host starts (registry.builtin_modules), long before a module is looked for.
    from importlib import metadata

    out = []
    if search_path is None:
        eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    else:
        eps = [
            ep
            for dist in metadata.distributions(path=search_path)
            for ep in dist.entry_points
            if ep.group == ENTRY_POINT_GROUP
        ]
    for ep in sorted(eps, key=lambda e: e.name):
        package = ep.value.split(":", 1)[0].strip()
        folder = None
        if search_path is not None:
            for base in search_path:
                candidate = Path(base, *package.split("."))
                if candidate.is_dir():
                    folder = candidate
                    break
        else:
            try:
                spec = importlib.util.find_spec(package)
            except (ImportError, ValueError):
                spec = None
            locations = list(spec.submodule_search_locations or []) if spec else []
            folder = Path(locations[0]) if locations else None
        if folder is None:
            out.append(
                Found("entry_point", Path(package), f"entry point {ep.name!r}: package"
                      f" {package!r} is not an importable package folder")
            )  # fmt: skip
        else:
            out.append(Found("entry_point", folder))
    return out


def discover(
    project: Path, *, trusted: bool, search_path: list[str] | None = None
) -> tuple[list[Found], list[Path]]:
    """The module folders to load, and the project's folders left out while it is untrusted.
    ``search_path`` replaces sys.path for entry points (tests, benchmarks)."""
    found = [Found("builtin", f) for f in builtin_folders()]
    found += _entry_points(search_path)
    found += [Found("user", f) for f in _folders(user_dir())]
    project_folders = _folders(project_dir(project))
    if trusted:
        return found + [Found("project", f) for f in project_folders], []
    return found, project_folders
