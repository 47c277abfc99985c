"""``.worktreeinclude``: which files a new worktree gets copied, and the copy.

Claude Code's semantics: the file uses .gitignore syntax and a file is copied only if it
matches a pattern *and* git ignores it (tracked files come with the checkout; nothing else
is copied). Both matches are git's own (``ls-files --others --ignored``, once with the
include file's patterns and once with git's excludes, intersected). A pattern with a ``..``
component is refused: it could only mean a path outside the repository.

The copy does not wait for ``git worktree add`` (which refuses a directory that is not
empty): ``stage`` copies the files into a hidden sibling of the worktree-to-be
(``.<name>.<token>.orchflow-include``, same filesystem; ``agent.cleanup`` removes one
an orchestrator that died mid-copy left) while git checks out, and ``merge`` then
moves them in with a few renames (a directory the checkout lacks moves whole). The copy
keeps what ``cp -a`` keeps: contents (``copy_file_range``), mode, access and modification
times, extended attributes where the filesystem takes them, symlinks as links, and the
modes and times of the directories it makes. A staged path that would land on a tracked
directory (or a file through a tracked symlink) of the new checkout is ConflictError naming
it, never written through.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import stat
import threading
from pathlib import Path

from orchflow_core.errors import ConflictError, InvalidArgumentError
from orchflow_core.git.runner import Git

log = logging.getLogger(__name__)

INCLUDE_FILE = ".worktreeinclude"
STAGING_SUFFIX = ".orchflow-include"
_NO_XATTR = (errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.ENODATA, errno.EINVAL)
_NO_FAST_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)


def include_patterns(root: Path) -> list[str]:
    """The patterns of ``root/.worktreeinclude`` ([] without one); a pattern that reaches
    outside the repository (a ``..`` component) is InvalidArgumentError naming it."""
    path = root / INCLUDE_FILE
    if not path.is_file():
        return []
    patterns = []
    for n, raw in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if ".." in line.lstrip("!").strip("/").split("/"):
            raise InvalidArgumentError(
                f"{INCLUDE_FILE} line {n}: pattern {line!r} reaches outside the repository; "
                "patterns name files inside it (e.g. .env, config/*.local)",
                param="worktree",
                pattern=line,
            )
        patterns.append(line)
    return patterns


async def included_files(git: Git) -> list[str]:
    """Untracked files that ``.worktreeinclude`` matches and git ignores, root-relative:
    the two lists git gives (``ls-files --others --ignored`` with the include file's
    patterns, and with git's own excludes), read at once and intersected."""
    if not include_patterns(git.root):
        return []
    (_, matched, _), (_, ignored, _) = await asyncio.gather(
        git.run("ls-files", "-z", "--others", "--ignored",
                f"--exclude-from={git.root / INCLUDE_FILE}"),
        git.run("ls-files", "-z", "--others", "--ignored", "--exclude-standard"),
    )  # fmt: skip
    wanted = {p for p in ignored.split(b"\0") if p}
    both = [raw.decode(errors="surrogateescape") for raw in matched.split(b"\0") if raw in wanted]
    return await asyncio.to_thread(_inside, git.root, both)


def _inside(root: Path, rels: list[str]) -> list[str]:
    """``rels`` but those whose resolved parent is outside ``root`` (a symlinked parent
    directory, or a symlink to a file elsewhere). Each directory is resolved once."""
    real = root.resolve()
    dirs: dict[str, bool] = {}
    out = []
    for rel in rels:
        parent = os.path.dirname(rel)
        inside = dirs.get(parent)
        if inside is None:
            inside = dirs[parent] = Path(os.path.realpath(root / parent)).is_relative_to(real)
        path = root / rel
        if not inside or (
            os.path.islink(path) and not Path(os.path.realpath(path)).parent.is_relative_to(real)
        ):
            continue
        out.append(rel)
    return out


def staging_dir(path: Path, token: str) -> Path:
    """Where the files for the worktree at ``path`` wait while git checks it out (``token``
    tells two attempts apart)."""
    return path.parent / f".{path.name}.{token}{STAGING_SUFFIX}"


class Stage:
    """The included files of ``git``'s tree copied into ``staging_dir(path, token)``,
    started at once; ``merge`` moves them into the worktree, ``discard`` stops the copy and
    removes it."""

    def __init__(self, git: Git, path: Path, *, token: str) -> None:
        self.root = git.root
        self.dir = staging_dir(path, token)
        self._stop = threading.Event()
        self._task = asyncio.create_task(self._run(git))

    async def _run(self, git: Git) -> list[str]:
        files = await included_files(git)
        if files and not self._stop.is_set():
            await asyncio.to_thread(_copy_tree, self.root, self.dir, files, self._stop)
        return files

    async def merge(self, path: Path) -> int:
        """Move the staged files into the worktree at ``path``; the number copied."""
        files = await self._task
        if files:
            await asyncio.to_thread(_merge_and_drop, self.dir, path)
        return len(files)

    async def discard(self) -> None:
        """Stop the copy (between two files), wait for it and remove what it made."""
        self._stop.set()
        if not self._task.done():
            # the copy thread cannot be interrupted: let it see the flag, then clean up
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._task)
        elif not self._task.cancelled():
            self._task.exception()  # retrieved: the caller reports its own failure
        if os.path.lexists(self.dir):
            await asyncio.to_thread(shutil.rmtree, self.dir, True)


def _copy_tree(src_root: Path, dst_root: Path, files: list[str], stop: threading.Event) -> None:
    """Copy ``files`` (root-relative) from ``src_root`` to a fresh ``dst_root``."""
    dst_root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.mkdir(dst_root, 0o700)
    made: list[str] = []  # the directories made, parents first
    seen = {""}
    src_s, dst_s = str(src_root), str(dst_root)
    for rel in files:
        if stop.is_set():
            return
        parent = os.path.dirname(rel)
        if parent not in seen:
            _make_dirs(dst_s, parent, seen, made)
        _copy_one(os.path.join(src_s, rel), os.path.join(dst_s, rel))
    for rel in reversed(made):  # children first: setting a mode can close a directory
        st = os.stat(os.path.join(src_s, rel))
        dst = os.path.join(dst_s, rel)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chmod(dst, stat.S_IMODE(st.st_mode))


def _make_dirs(dst_root: str, rel: str, seen: set[str], made: list[str]) -> None:
    todo = []
    while rel not in seen:
        todo.append(rel)
        rel = os.path.dirname(rel)
    for d in reversed(todo):
        os.mkdir(os.path.join(dst_root, d), 0o700)
        seen.add(d)
        made.append(d)


def _copy_one(src: str, dst: str) -> None:
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        with contextlib.suppress(NotImplementedError, OSError):
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            _copy_data(fin, fout, st.st_size)
            _copy_xattrs(fin, fout)
            os.fchmod(fout, stat.S_IMODE(st.st_mode))
            os.utime(fout, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_data(fin: int, fout: int, size: int) -> None:
    if size > 0 and hasattr(os, "copy_file_range"):
        try:
            left = size
            while left > 0:
                n = os.copy_file_range(fin, fout, left)
                if n == 0:
                    break
                left -= n
        except OSError as exc:
            if exc.errno not in _NO_FAST_COPY:
                raise
            os.lseek(fin, 0, os.SEEK_SET)
            os.lseek(fout, 0, os.SEEK_SET)
            os.ftruncate(fout, 0)
        else:
            if left == 0:
                return
    # no copy_file_range here (or it stopped short, e.g. a file still growing): read/write
    while chunk := os.read(fin, 1 << 20):
        os.write(fout, chunk)


def _copy_xattrs(fin: int, fout: int) -> None:
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(fin)
    except OSError as exc:
        if exc.errno in _NO_XATTR:
            return
        raise
    for name in names:
        try:
            os.setxattr(fout, name, os.getxattr(fin, name))
        except OSError as exc:
            if exc.errno not in _NO_XATTR:
                raise


def _merge_and_drop(staged: Path, dst: Path) -> None:
    _merge(staged, dst)
    shutil.rmtree(staged, ignore_errors=True)  # the directories that were merged into


def _merge(staged: Path, dst: Path) -> None:
    """Move everything under ``staged`` to the same place under ``dst``: a directory
    ``dst`` lacks moves whole, one it has is merged into, a file replaces a file."""
    for entry in os.scandir(staged):
        target = dst / entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if not os.path.lexists(target):
            os.rename(entry.path, target)
            continue
        target_is_dir = target.is_dir() and not target.is_symlink()
        if is_dir and target_is_dir:
            _merge(Path(entry.path), target)
        elif is_dir or target_is_dir:
            kind = "directory" if target_is_dir else "symlink" if target.is_symlink() else "file"
            raise ConflictError(
                f"{INCLUDE_FILE}: {target} is a {kind} in the new worktree's checkout; the "
                f"included {'directory' if is_dir else 'file'} cannot be copied there "
                "(change the pattern or the base)",
                path=str(target),
            )
        else:  # a file (or link) of the checkout: replaced, as cp would
            os.replace(entry.path, target)
