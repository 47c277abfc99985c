"""The discovery file: how clients find a running orchestrator (its URL and token).

Format (JSON object, file mode 0600, written atomically once the server listens)::

    {"url": "ws://127.0.0.1:PORT/" | "unix:/path", "token": "<43 chars>", "pid": 1234,
     "version": "0.1.0", "started_at": 1700000000.0, "mode": "service" | "sidecar"}

The token is a secret: it lives only here (and in the server's memory), never in argv,
URLs or logs. Writing goes through a 0600 temp file in the same directory and
``os.replace``, so a reader sees the old file, the new file, or none, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchflow_core import paths
from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.remote.discovery import check_private

FILE_NAME = "orchestrator.json"
MODES = ("service", "sidecar")
_FIELDS = {"url": str, "token": str, "pid": int, "version": str, "started_at": float, "mode": str}


def default_path() -> Path:
    """``<runtime dir>/orchestrator.json`` (ORCHFLOW_RUNTIME_DIR overrides the directory)."""
    return paths.runtime_dir() / FILE_NAME


@dataclass(frozen=True, slots=True)
class Discovery:
    url: str
    token: str
    pid: int
    version: str
    started_at: float
    mode: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:  # never print the token by accident
        return f"Discovery(url={self.url!r}, pid={self.pid}, mode={self.mode!r})"


def write(path: Path, info: Discovery) -> None:
    """Write ``info`` to ``path`` atomically with mode 0600 (directory made 0700 if new)."""
    paths.ensure_private_dir(path.parent)
    data = json.dumps(info.to_dict(), indent=1).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read(path: Path) -> Discovery:
    """The discovery file at ``path``; NotFoundError if absent, InvalidArgumentError if bad,
    PermissionDeniedError if others can read it or another user owns it."""
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"no orchestrator discovery file at {path}: is it running? "
            "(start one with `orchflow-orchestrator serve`)",
            path=str(path),
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None
    check_private(path, st)  # the same mode and owner checks as the host's reader
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"{path} is not JSON: {exc}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise InvalidArgumentError(f"{path}: expected a JSON object", path=str(path))
    values: dict[str, Any] = {}
    for name, kind in _FIELDS.items():
        value = raw.get(name)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidArgumentError(
                f"{path}: field {name!r} must be {kind.__name__}, got {value!r:.40}",
                path=str(path),
                field=name,
            )
        values[name] = value
    return Discovery(**values)


def remove_if_ours(path: Path, pid: int) -> bool:
    """Delete ``path`` if it still names process ``pid`` (a newer server may have replaced it)."""
    try:
        current = read(path)
    except (NotFoundError, InvalidArgumentError):
        return False
    if current.pid != pid:
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` runs (ours or another user's); a zombie counts as gone."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat.rsplit(b")", 1)[-1].split()[:1] != [b"Z"]


def looks_like_orchestrator(pid: int) -> bool:
    """True if ``pid``'s command line mentions the orchestrator (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)  # no /proc: trust the pid
    return b"orchestrator" in cmdline
