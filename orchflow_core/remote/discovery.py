"""Reading an orchestrator's discovery file: where it listens and its token.

The orchestrator writes it (mode 0600) once it is ready; this module only reads.
A file readable by others is refused: its token would be everyone's.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from orchflow_core import paths
from orchflow_core.errors import PermissionDeniedError, UnavailableError

DEFAULT_NAME = "orchestrator.json"


def default_path() -> Path:
    return paths.runtime_dir() / DEFAULT_NAME


@dataclass(frozen=True, slots=True)
class Discovery:
    url: str
    token: str
    pid: int | None

    def __repr__(self) -> str:  # never print the token
        return f"Discovery(url={self.url!r}, pid={self.pid})"


def check_private(path: Path, st: os.stat_result) -> None:
    """A discovery file holds a token: refuse one others can read or another user owns.
    Every reader (the host's link, the orchestrator's CLI) goes through this check."""
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionDeniedError(
            f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); refusing its token",
            path=str(path),
        )
    if st.st_uid != os.getuid():
        raise PermissionDeniedError(f"{path} belongs to another user; refusing it", path=str(path))


def read(path: Path) -> Discovery:
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnavailableError(
            f"no orchestrator discovery file at {path}; is `orchflow-orchestrator serve` running?",
            path=str(path),
        ) from None
    except OSError as exc:
        raise UnavailableError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None
    check_private(path, st)
    try:
        data = json.loads(text)
        return Discovery(url=str(data["url"]), token=str(data["token"]), pid=data.get("pid"))
    except (ValueError, KeyError, TypeError):
        raise UnavailableError(f"{path} is not a valid discovery file", path=str(path)) from None
