"""Accepting an agent's hunks into the user's working tree, and rejecting them in the
agent's. Every hunk is decided on its own and a refused one says why; what is refused is
never written.

Accept (into the main worktree, the user's own files; the index is not touched, so the
change shows as an ordinary unstaged edit the user can undo or commit):

- a hunk lands where its old lines (context and removals) are found byte for byte, at
  its line or the nearest offset (``patch.locate``); not found: "no longer applies";
- found, but the user has uncommitted edits (``git diff HEAD``, staged or not) on any of
  those lines: refused, "uncommitted edits on lines a-b"; nothing is overwritten;
- binary files, renames, copies, type changes and symlinks go as whole files only
  (``paths``), and only when the user's copy is still the base's (byte-compared);
- a submodule is never changed here (its commit is the submodule's to move).

Reject (in the agent's worktree): the hunk's new lines are put back to the old ones;
``paths`` restore whole files from the base (``git restore --source``), an added file
is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.review import patch
from orchflow_core.git import parse
from orchflow_core.git.runner import Git

DIRTY_ARGS = ("diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "-U0")
SYMLINK = "120000"


@dataclass
class Outcome:
    """What one accept or reject did: ``done`` ({id?, path}), ``refused`` ({id?, path,
    reason}) and the files written."""

    done: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)

    def refuse(self, path: str, reason: str, hunk: parse.Hunk | None = None) -> None:
        row: dict[str, Any] = {"path": parse.display(path), "reason": reason}
        if hunk is not None:
            row["id"] = hunk.id
        self.refused.append(row)

    def ok(self, path: str, hunk: parse.Hunk | None = None) -> None:
        row: dict[str, Any] = {"path": parse.display(path)}
        if hunk is not None:
            row["id"] = hunk.id
        self.done.append(row)


def whole_file_only(f: parse.FileDiff) -> str | None:
    """Why ``f``'s hunks cannot go one by one (None: they can)."""
    if f.submodule:
        return "it is a submodule"
    if f.binary:
        return "it is a binary file: accept or reject the whole file (paths)"
    if f.status in ("renamed", "copied"):
        return f"it is {f.status} from {parse.display(f.old_path)}: use the whole file (paths)"
    if f.status == "typechange":
        return "its type changed (file, symlink or submodule): use the whole file (paths)"
    if SYMLINK in (f.old_mode, f.new_mode):
        return "it is a symlink: use the whole file (paths)"
    return None


# -- files ----------------------------------------------------------------------------------


def outside(root: Path, rel: str) -> bool:
    """Whether ``root/rel`` leads out of ``root`` (through a symlinked directory)."""
    real = Path(os.path.realpath(root))
    return not Path(os.path.realpath((root / rel).parent)).is_relative_to(real)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` atomically (a temp file renamed over), keeping the old file's mode
    unless ``mode`` is given."""
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".orchflow-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _git_mode(mode: str | None) -> int | None:
    if not mode or mode == SYMLINK:
        return None
    return 0o755 if mode == "100755" else 0o644


# -- the user's uncommitted lines ----------------------------------------------------------


async def dirty_lines(user: Git, paths: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Per path, the user's uncommitted edits against HEAD as (0-based start, count) in the
    file as it is now (a count of 0: lines deleted just before ``start``); an untracked
    file is dirty all over."""
    if not paths:
        return {}
    (_, out, _), (_, untracked, _) = await asyncio.gather(
        user.run(*DIRTY_ARGS, "HEAD", "--", *paths, ok_codes=(0, 128)),
        user.run("ls-files", "-z", "--others", "--", *paths),
    )
    spans: dict[str, list[tuple[int, int]]] = {}
    for f in parse.parse_diff(out, staged=False):
        rows = spans.setdefault(f.path, [])
        for h in f.hunks:
            rows.append((h.new_start - 1 if h.new_lines else h.new_start, h.new_lines))
    for raw in untracked.split(b"\0"):
        if raw:
            spans[raw.decode("utf-8", errors="surrogateescape")] = [(0, 1 << 30)]
    return spans


def _overlap(spans: Iterable[tuple[int, int]], pos: int, count: int) -> tuple[int, int] | None:
    end = pos + count
    for start, n in spans:
        if (n and start < end and pos < start + n) or (not n and pos <= start <= end):
            return start, n
    return None


def _lines_text(start: int, n: int) -> str:
    first = start + 1
    return f"line {first}" if n <= 1 else f"lines {first}-{start + n}"


# -- accept --------------------------------------------------------------------------------


def accept_hunks(
    root: Path,
    f: parse.FileDiff,
    hunks: list[parse.Hunk],
    dirty: list[tuple[int, int]],
    out: Outcome,
) -> None:
    """Apply ``hunks`` of ``f`` to the user's copy under ``root``, each on its own."""
    why = whole_file_only(f)
    if why:
        for h in hunks:
            out.refuse(f.path, f"cannot take hunks one by one: {why}", h)
        return
    target = root / f.path
    if outside(root, f.path):
        for h in hunks:
            out.refuse(f.path, f"{parse.display(f.path)} is behind a symlink that leads out", h)
        return
    data = _read(target)
    if f.status == "added" and data is not None:
        for h in hunks:
            out.refuse(f.path, f"{parse.display(f.path)} exists in your tree already", h)
        return
    if f.status != "added" and data is None:
        for h in hunks:
            out.refuse(f.path, f"{parse.display(f.path)} is missing from your tree", h)
        return
    lines = patch.split_lines(data or b"")
    taken = 0
    for h in sorted(hunks, key=lambda h: h.old_start, reverse=True):
        s = patch.sides(h)
        expected = patch.expected_index(h, reverse=False)
        pos = patch.locate(lines, s.old, expected)
        hit = _overlap(dirty, expected if pos is None else pos, len(s.old))
        if hit is not None:
            out.refuse(
                f.path,
                f"you have uncommitted edits on {_lines_text(*hit)} of "
                f"{parse.display(f.path)}, where this hunk goes; commit, stash or undo them first",
                h,
            )
            continue
        if pos is None:
            out.refuse(
                f.path,
                f"no longer applies: {parse.display(f.path)} around line {h.old_start} differs "
                "in your tree from the agent's base",
                h,
            )
            continue
        lines[pos : pos + len(s.old)] = s.new
        taken += 1
        out.ok(f.path, h)
    if not taken:
        return
    result = b"".join(lines)
    if f.status == "deleted" and not result and taken == len(f.hunks):
        target.unlink()
    else:
        _write(target, result, _git_mode(f.new_mode) if f.status == "added" else None)
    out.written.append(parse.display(f.path))


async def accept_files(
    user: Git,
    agent_root: Path,
    base: str,
    files: list[parse.FileDiff],
    dirty: dict[str, list[tuple[int, int]]],
    out: Outcome,
) -> None:
    """Accept whole files: text files hunk by hunk (plus their mode); the rest as whole
    files, only over an unchanged copy of the base's."""
    whole = []
    for f in files:
        if f.submodule:
            out.refuse(f.path, "it is a submodule: move its commit with git in the submodule")
        elif whole_file_only(f) is None and f.hunks:
            before = len(out.refused)
            accept_hunks(user.root, f, f.hunks, dirty.get(f.path, []), out)
            if len(out.refused) == before:
                _accept_mode(user.root, f)
        else:  # binary, renamed, a symlink, an empty file, a mode change only
            whole.append(f)
    if not whole:
        return
    base_bytes = await blobs(user, base, [f.old_path for f in whole if f.status != "added"])
    for f in whole:
        old = user.root / f.old_path
        new = user.root / f.path
        if outside(user.root, f.path) or outside(user.root, f.old_path):
            out.refuse(f.path, f"{parse.display(f.path)} is behind a symlink that leads out")
            continue
        mine = _link_or_bytes(old)
        if f.status != "added" and mine != base_bytes.get(f.old_path):
            out.refuse(
                f.path,
                f"your {parse.display(f.old_path)} differs from the agent's base "
                "(edited, committed since or missing): not overwritten",
            )
            continue
        if f.status in ("renamed", "copied") and os.path.lexists(new):
            out.refuse(f.path, f"{parse.display(f.path)} exists in your tree already")
            continue
        if f.status == "added" and os.path.lexists(new):
            out.refuse(f.path, f"{parse.display(f.path)} exists in your tree already")
            continue
        if f.status == "deleted":
            old.unlink()
        else:
            _copy_from(agent_root / f.path, new, f.new_mode)
            if f.status == "renamed":
                old.unlink()
        out.ok(f.path)
        out.written.append(parse.display(f.path))


def _accept_mode(root: Path, f: parse.FileDiff) -> None:
    """The mode change (100644 <-> 100755) of a file whose hunks were all taken."""
    mode = _git_mode(f.new_mode)
    target = root / f.path
    if f.status == "modified" and f.old_mode != f.new_mode and mode and target.is_file():
        os.chmod(target, mode)


def _link_or_bytes(path: Path) -> bytes | None:
    if path.is_symlink():
        return os.readlink(path).encode("utf-8", errors="surrogateescape")
    return _read(path)


def _copy_from(src: Path, dst: Path, mode: str | None) -> None:
    if src.is_symlink():
        if os.path.lexists(dst):
            dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.readlink(src), dst)
        return
    _write(dst, src.read_bytes(), _git_mode(mode) or stat.S_IMODE(src.stat().st_mode))


async def blobs(git: Git, commit: str, paths: list[str]) -> dict[str, bytes]:
    """The content of ``paths`` at ``commit`` (one ``cat-file --batch``); absent ones left
    out. A symlink's content is its target."""
    if not paths:
        return {}
    names = [f"{commit}:{p}".encode("utf-8", errors="surrogateescape") for p in paths]
    _, out, _ = await git.run("cat-file", "--batch", stdin=b"\n".join(names) + b"\n")
    found: dict[str, bytes] = {}
    pos = 0
    for p in paths:
        end = out.index(b"\n", pos)
        head = out[pos:end].split()
        pos = end + 1
        if len(head) == 3 and head[1] == b"blob":
            size = int(head[2])
            found[p] = out[pos : pos + size]
            pos += size + 1
    return found


# -- reject --------------------------------------------------------------------------------


def reject_hunks(
    agent_root: Path, f: parse.FileDiff, hunks: list[parse.Hunk], out: Outcome
) -> None:
    """Put ``hunks`` of ``f`` back to the base's lines in the agent's worktree."""
    why = whole_file_only(f)
    if why:
        for h in hunks:
            out.refuse(f.path, f"cannot reject hunks one by one: {why}", h)
        return
    target = agent_root / f.path
    if outside(agent_root, f.path):
        for h in hunks:
            out.refuse(f.path, f"{parse.display(f.path)} is behind a symlink that leads out", h)
        return
    lines = patch.split_lines(_read(target) or b"")
    taken = 0
    for h in sorted(hunks, key=lambda h: h.new_start, reverse=True):
        s = patch.sides(h)
        pos = patch.locate(lines, s.new, patch.expected_index(h, reverse=True))
        if pos is None:
            out.refuse(
                f.path, "the agent changed these lines again since review.open: open it again", h
            )
            continue
        lines[pos : pos + len(s.new)] = s.old
        taken += 1
        out.ok(f.path, h)
    if not taken:
        return
    result = b"".join(lines)
    if f.status == "added" and not result and taken == len(f.hunks):
        target.unlink()
    else:
        _write(target, result, _git_mode(f.old_mode) if f.status == "deleted" else None)
    out.written.append(parse.display(f.path))


async def reject_files(agent: Git, base: str, files: list[parse.FileDiff], out: Outcome) -> None:
    """Whole files back to the base in the agent's worktree (an added one deleted)."""
    restore: list[str] = []
    for f in files:
        if f.submodule:
            out.refuse(f.path, "it is a submodule: move its commit with git in the submodule")
            continue
        if f.status in ("added", "renamed", "copied"):
            with contextlib.suppress(FileNotFoundError):
                (agent.root / f.path).unlink()
        if f.status != "added":
            restore.append(f.old_path)
        out.ok(f.path)
        out.written.append(parse.display(f.path))
    if restore:
        await agent.run(
            "restore", f"--source={base}", "--worktree", "--", *restore, read_only=False
        )
