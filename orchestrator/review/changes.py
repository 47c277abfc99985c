"""What an agent changed in its worktree against its base: committed and uncommitted,
new (untracked) files included, as parsed files and hunks.

The base is where the agent's branch left its base branch: ``merge-base HEAD <base>``
(it moves if the agent merged its base in), else the commit the worktree was made from.
The diff is ``git diff <base>`` of the worktree's files (one git process), with the
agent's untracked files marked intent-to-add in a scratch copy of the worktree's index
(``GIT_INDEX_FILE``), so they show as new files while the agent's own index is never
written. Renames are detected (``-M``).

Hunk ids are stable across calls: a hash of the path, the hunk's place on the base side
(``-old_start,old_lines``, which neither accepting nor rejecting other hunks moves) and
its body. A file whose content changes gets new ids; a stale id is refused, not guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchflow_core.errors import NotFoundError
from orchflow_core.git import parse
from orchflow_core.git.runner import Git

DIFF_ARGS = (
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--ignore-submodules=none",
    "-M",
    "-U3",
)


@dataclass
class Changes:
    """The agent's changes: ``base`` (a commit), its worktree's ``git`` and the files."""

    base: str
    git: Git
    files: list[parse.FileDiff]


def hunk_id(path: str, hunk: parse.Hunk) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"review\0" + path.encode("utf-8", errors="surrogateescape") + b"\0")
    h.update(b"%d,%d\0" % (hunk.old_start, hunk.old_lines))
    for line in hunk.lines[1:]:
        h.update(line)
    return h.hexdigest()[:12]


async def open_worktree(ws: dict[str, Any], agent: str) -> Git:
    path = Path(ws["path"])
    if not path.is_dir():
        raise NotFoundError(
            f"agent {agent}'s worktree {path} is gone (deleted outside orchflow); "
            "nothing to review. agent.cleanup forgets it",
            path=str(path),
        )
    return await Git.open(path)


async def base_of(git: Git, ws: dict[str, Any]) -> str:
    """The commit the agent's work is measured from."""
    base = str(ws.get("base") or ws.get("base_commit") or "HEAD")
    rc, out, _ = await git.run("merge-base", "HEAD", base, ok_codes=(0, 1, 128))
    if rc == 0 and out.strip():
        return out.decode().strip()
    return str(ws.get("base_commit") or base)


async def read(
    ws: dict[str, Any],
    agent: str,
    *,
    paths: list[str] | None = None,
    git: Git | None = None,
    base: str | None = None,
) -> Changes:
    """The agent's changes (only in ``paths`` if given; a rename is found only when both of
    its sides are among them). ``git`` and ``base`` from an earlier read save their
    lookups (two and one git processes)."""
    if git is None or not git.root.is_dir():
        git = await open_worktree(ws, agent)
    base_task = asyncio.create_task(base_of(git, ws)) if base is None else None
    (_, untracked_out, _), (_, plain, _) = await asyncio.gather(
        git.run("ls-files", "-z", "--others", "--exclude-standard", "--", *(paths or [])),
        git.run(*DIFF_ARGS, base or "HEAD", "--", *(paths or []))
        if base is not None
        else _nothing(),
    )
    if base_task is not None:
        base = await base_task
    assert base is not None
    untracked = [p for p in untracked_out.split(b"\0") if p]
    if untracked or base_task is not None:
        out = await _diff(git, base, untracked, paths)
    else:
        out = plain
    files = parse.parse_diff(out, staged=False)
    for f in files:
        for h in f.hunks:
            h.id = hunk_id(f.path, h)
    return Changes(base=base, git=git, files=files)


async def _nothing() -> tuple[int, bytes, str]:
    return 0, b"", ""


async def _diff(git: Git, base: str, untracked: list[bytes], paths: list[str] | None) -> bytes:
    if not untracked:
        _, out, _ = await git.run(*DIFF_ARGS, base, "--", *(paths or []))
        return out
    scratch = tempfile.mkdtemp(prefix="orchflow-review-")
    try:
        index = os.path.join(scratch, "index")
        real = git.git_dir / "index"
        if real.is_file():
            await asyncio.to_thread(shutil.copy2, real, index)  # its mtime: racy-git checks
        env = {"GIT_INDEX_FILE": index}
        await git.run(
            "add", "-N", "--pathspec-from-file=-", "--pathspec-file-nul",
            stdin=b"\0".join(untracked), env=env, read_only=False,
        )  # fmt: skip
        _, out, _ = await git.run(*DIFF_ARGS, base, "--", *(paths or []), env=env)
        return out
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)


async def changed_paths(ws: dict[str, Any], agent: str) -> set[str]:
    """The paths the agent changed (both sides of a rename), cheaply: names only."""
    git = await open_worktree(ws, agent)
    base = await base_of(git, ws)
    (_, diffed, _), (_, untracked, _) = await asyncio.gather(
        git.run("diff", "--name-only", "-z", "--no-renames", "--ignore-submodules=none", base),
        git.run("ls-files", "-z", "--others", "--exclude-standard"),
    )
    return {
        p.decode("utf-8", errors="surrogateescape")
        for p in diffed.split(b"\0") + untracked.split(b"\0")
        if p
    }
