"""orchflow's trash: deleted files wait under the state dir and can be put back.

Each entry is a directory ``<trash>/<id>/`` holding ``item`` (the moved file, link or
tree) and ``meta.json`` (original absolute path, deletion time, kind). Metadata is
written before the move, so a crash leaves at worst an entry without ``item``, which
``list`` skips. Restoring never overwrites: if the original path exists again it is a
``ConflictError`` and nothing moves.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from orchflow_core import paths
from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.files.atomic import move_entry

log = logging.getLogger(__name__)

Kind = Literal["file", "dir", "link"]
_ID = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")


@dataclass(frozen=True, slots=True)
class TrashEntry:
    id: str
    original: Path
    deleted_at: float
    kind: Kind

    def to_dict(self, root: Path | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "original": str(self.original),
            "deleted_at": self.deleted_at,
            "kind": self.kind,
        }
        if root is not None and self.original.is_relative_to(root):
            out["path"] = self.original.relative_to(root).as_posix()
        return out


class Trash:
    """The trash directory (``<state dir>/trash``), created 0700 on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, path: Path) -> TrashEntry:
        """Move ``path`` (already checked by the caller) into the trash."""
        if not os.path.lexists(path):
            raise NotFoundError(f"{path} does not exist", path=str(path))
        kind: Kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        now = time.time()
        entry = TrashEntry(_new_id(now), path, now, kind)
        paths.ensure_private_dir(self.directory)  # parents 0700 too
        where = self.directory / entry.id
        where.mkdir(mode=0o700)
        try:
            _write_json(
                where / "meta.json",
                {
                    "original": os.fsdecode(path),
                    "deleted_at": now,
                    "kind": kind,
                },
            )
            move_entry(path, where / "item")
        except BaseException:
            shutil.rmtree(where, ignore_errors=True)
            raise
        log.info("moved %s to trash as %s", path, entry.id)
        return entry

    def get(self, trash_id: str) -> TrashEntry:
        if not isinstance(trash_id, str) or not _ID.match(trash_id):
            raise InvalidArgumentError(
                f"not a trash id: {trash_id!r} (expected like 20250101T120000-0123abcd)",
                trash_id=trash_id,
            )
        entry = self._read(self.directory / trash_id)
        if entry is None:
            raise NotFoundError(f"no trash entry {trash_id}", trash_id=trash_id)
        return entry

    def list(self) -> list[TrashEntry]:
        """Entries, newest first."""
        if not self.directory.is_dir():
            return []
        found = [self._read(d) for d in self.directory.iterdir() if _ID.match(d.name)]
        entries = [e for e in found if e is not None]
        entries.sort(key=lambda e: e.deleted_at, reverse=True)
        return entries

    def restore(self, trash_id: str) -> TrashEntry:
        """Put an entry back where it was; ``ConflictError`` if that path is taken now."""
        entry = self.get(trash_id)
        target = entry.original
        if os.path.lexists(target):
            raise ConflictError(
                f"cannot restore {target}: it exists now; move it away first",
                path=str(target),
                trash_id=trash_id,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            move_entry(self.directory / trash_id / "item", target)
        except FileExistsError:
            raise ConflictError(
                f"cannot restore {target}: it exists now", path=str(target), trash_id=trash_id
            ) from None
        shutil.rmtree(self.directory / trash_id, ignore_errors=True)
        log.info("restored %s from trash %s", target, trash_id)
        return entry

    def purge(self, trash_id: str) -> None:
        """Delete an entry for good."""
        self.get(trash_id)
        shutil.rmtree(self.directory / trash_id)

    def _read(self, where: Path) -> TrashEntry | None:
        try:
            meta = orjson.loads((where / "meta.json").read_bytes())
            if not os.path.lexists(where / "item"):
                return None
            return TrashEntry(
                where.name, Path(meta["original"]), float(meta["deleted_at"]), meta["kind"]
            )
        except FileNotFoundError:
            return None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("trash entry %s has unreadable metadata; skipped", where)
            return None


def _new_id(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(4)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".meta-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(doc))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
