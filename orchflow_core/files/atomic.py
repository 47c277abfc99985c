"""Filesystem moves that never overwrite: ``rename_noreplace`` and ``publish`` of a temp copy.

On Linux ``renameat2(RENAME_NOREPLACE)`` makes "move unless the target exists" one atomic
step. Where it is missing (other systems, some filesystems) we fall back to a check then
``os.rename``, which a racing creator could beat; that window is the OS's limit.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

AT_FDCWD = -100
RENAME_NOREPLACE = 1


def _load_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def rename_noreplace(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; ``FileExistsError`` if ``dst`` exists (nothing changed then)."""
    if _renameat2 is not None:
        if (
            _renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), RENAME_NOREPLACE)
            == 0
        ):
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(src), None, str(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def temp_sibling(path: Path, tag: str) -> Path:
    """A fresh hidden name next to ``path`` (same directory, so same filesystem)."""
    return path.with_name(f".{path.name}.orchflow-{tag}-{uuid.uuid4().hex[:8]}")


def copy_entry(src: Path, dst: Path) -> None:
    """Copy a file, symlink (as a link) or directory tree (links kept as links) to ``dst``."""
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def remove_entry(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def publish_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to a temp name beside ``dst``, then move it into place without overwriting.

    Readers never see a half-written ``dst``; if ``dst`` appeared meanwhile the copy is
    removed and ``FileExistsError`` raised.
    """
    tmp = temp_sibling(dst, "copy")
    try:
        copy_entry(src, tmp)
        rename_noreplace(tmp, dst)
    except BaseException:
        if os.path.lexists(tmp):
            remove_entry(tmp)
        raise


def move_entry(src: Path, dst: Path) -> None:
    """Move without overwriting; across filesystems copy-then-publish, then remove ``src``."""
    try:
        rename_noreplace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        publish_copy(src, dst)
        remove_entry(src)
