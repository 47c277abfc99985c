"""File operations inside a project root: create, rename, move, copy, delete to trash, restore.

Every path is checked before anything happens: it is taken relative to the root (or as an
absolute path), its directory is resolved with symlinks followed, and the result must lie
inside the root. ``..`` escapes, absolute paths elsewhere, a path through a symlink that
leads out, and a symlink that itself points out are all ``PermissionDeniedError`` naming
the path. The last component is not followed, so renaming or deleting a link acts on the
link, never on what it points to. An existing target is a ``ConflictError``: nothing is
ever overwritten (moves use ``renameat2(RENAME_NOREPLACE)``; copies and new files are
written under a temporary name and then moved or linked into place).

These are blocking calls (a copy can be large): run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from orchflow_core.files.atomic import move_entry, publish_copy
from orchflow_core.files.trash import Trash, TrashEntry

log = logging.getLogger(__name__)

EntryKind = Literal["file", "dir"]


@dataclass(frozen=True, slots=True)
class Target:
    """A checked path: ``path`` is absolute with its directory resolved; ``rel`` is posix."""

    root: Path
    path: Path
    rel: str

    @property
    def exists(self) -> bool:
        return os.path.lexists(self.path)


def resolve_inside(root: Path, path: str | os.PathLike[str]) -> Target:
    """Check that ``path`` (relative to ``root``, or absolute) stays inside ``root``."""
    text = os.fspath(path)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise InvalidArgumentError(f"path must be a non-empty string, got {path!r}", path=path)
    real_root = root.resolve(strict=True)
    given = Path(text)
    joined = given if given.is_absolute() else real_root / given
    if joined.name in ("", ".", ".."):
        full = joined.resolve()
    else:
        full = joined.parent.resolve() / joined.name
    if not _inside(full, real_root):
        raise PermissionDeniedError(
            f"{text} is outside the project root {real_root}", path=text, root=str(real_root)
        )
    if full.is_symlink() and not _inside(full.resolve(), real_root):
        raise PermissionDeniedError(
            f"{text} is a symbolic link to {full.resolve()}, outside the project root {real_root}",
            path=text,
            root=str(real_root),
        )
    rel = full.relative_to(real_root).as_posix()
    return Target(real_root, full, "" if rel == "." else rel)


def create(
    root: Path,
    path: str | os.PathLike[str],
    *,
    kind: EntryKind = "file",
    content: bytes = b"",
) -> Target:
    """Create a file (with ``content``) or a directory; missing parents are created."""
    if kind not in ("file", "dir"):
        raise InvalidArgumentError(f"kind must be 'file' or 'dir', got {kind!r}", param="kind")
    t = _existing_not(resolve_inside(root, path))
    t.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "dir":
            t.path.mkdir()
        else:
            # Write under a temp name, then hard-link into place: link() never overwrites.
            fd, tmp = tempfile.mkstemp(dir=t.path.parent, prefix=f".{t.path.name}.orchflow-new-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
                os.link(tmp, t.path)
            finally:
                os.unlink(tmp)
    except FileExistsError:
        raise _conflict(t) from None
    log.info("created %s %s", kind, t.rel)
    return t


def rename(root: Path, path: str | os.PathLike[str], new_name: str) -> Target:
    """Give ``path`` a new name in the same directory."""
    if (
        not isinstance(new_name, str)
        or new_name in ("", ".", "..")
        or "/" in new_name
        or os.sep in new_name
        or "\x00" in new_name
    ):
        raise InvalidArgumentError(
            f"new name must be a plain file name without '/', got {new_name!r}", param="name"
        )
    src = resolve_inside(root, path)
    return move(root, src.path, src.path.with_name(new_name))


def move(root: Path, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Target:
    """Move ``src`` to the full path ``dst`` (not into it); parents of ``dst`` are created."""
    s = _existing(resolve_inside(root, src))
    d = _existing_not(resolve_inside(root, dst))
    _not_into_itself(s, d)
    d.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        move_entry(s.path, d.path)
    except FileExistsError:
        raise _conflict(d) from None
    log.info("moved %s to %s", s.rel, d.rel)
    return d


def copy(root: Path, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Target:
    """Copy ``src`` (file, link or tree; links inside stay links) to the full path ``dst``."""
    s = _existing(resolve_inside(root, src))
    d = _existing_not(resolve_inside(root, dst))
    _not_into_itself(s, d)
    d.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        publish_copy(s.path, d.path)
    except FileExistsError:
        raise _conflict(d) from None
    log.info("copied %s to %s", s.rel, d.rel)
    return d


def delete(root: Path, path: str | os.PathLike[str], trash: Trash) -> TrashEntry:
    """Move ``path`` into ``trash``; ``restore`` brings it back."""
    return trash.put(_existing(resolve_inside(root, path)).path)


def restore(root: Path, trash_id: str, trash: Trash) -> Target:
    """Put a trashed entry back; its original place must be inside ``root`` and free."""
    entry = trash.get(trash_id)
    t = resolve_inside(root, entry.original)
    if t.exists:
        raise ConflictError(
            f"cannot restore {t.rel}: it exists now; move it away first",
            path=t.rel,
            trash_id=trash_id,
        )
    trash.restore(trash_id)
    return t


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _existing(t: Target) -> Target:
    if not t.exists:
        raise NotFoundError(f"{t.rel} does not exist", path=t.rel)
    if t.path == t.root:
        raise PermissionDeniedError(
            f"refusing to operate on the project root {t.root} itself", path=str(t.root)
        )
    return t


def _existing_not(t: Target) -> Target:
    if t.exists or t.path == t.root:
        raise _conflict(t)
    return t


def _conflict(t: Target) -> ConflictError:
    return ConflictError(f"{t.rel or t.root} already exists; nothing was overwritten", path=t.rel)


def _not_into_itself(s: Target, d: Target) -> None:
    if d.path.is_relative_to(s.path):
        raise InvalidArgumentError(f"cannot put {s.rel} inside itself ({d.rel})", path=s.rel)
