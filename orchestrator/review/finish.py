"""``review.finish``: the agent's work into the user's current branch, as a merge, a squash
or a rebase.

1. The agent's uncommitted work (rejections included) becomes a commit made with a
   scratch index (``write-tree`` + ``commit-tree``): nothing is moved yet.
2. ``git merge-tree --write-tree`` of the user's HEAD and that commit finds conflicts
   without touching any tree: a conflict is a ConflictError naming the files, and nothing
   is committed anywhere (the branch, both trees and both indexes are as they were).
3. The user's index must match HEAD (git would refuse to merge, and a squash would take
   the staged changes along), and the user must have no uncommitted edits (or untracked
   files) where the agent changed files: both refused before anything moves. Uncommitted
   edits to other files stay as they are.
4. The agent's branch is moved to the commit, its index synced (``reset -q``), then in the
   user's tree: ``merge --no-ff``, ``merge --squash`` + ``commit``, or (rebase) the
   agent's branch replayed onto the user's HEAD in the agent's worktree and fast-forwarded
   into it. git itself refuses (and changes nothing) when an uncommitted user edit would be
   overwritten; that is reported as a conflict with git's file list.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Any

from orchflow_core.errors import ConflictError, InvalidArgumentError, UnavailableError
from orchflow_core.git import repo as git_repo
from orchflow_core.git.runner import Git, GitCommandError, git_version

STRATEGIES = ("merge", "squash", "rebase")
MERGE_TIMEOUT_S = 120.0
MERGE_TREE = (2, 38)


def check_strategy(value: str) -> str:
    if value not in STRATEGIES:
        raise InvalidArgumentError(
            f"strategy must be one of {', '.join(STRATEGIES)}, got {value!r}", param="strategy"
        )
    return value


async def _snapshot(agent: Git, message: str) -> str:
    """A commit of the agent's worktree as it is (HEAD if it has nothing uncommitted)."""
    _, head, _ = await agent.run("rev-parse", "HEAD")
    head_oid = head.decode().strip()
    _, st, _ = await agent.run("status", "--porcelain", "-z", "--untracked-files=all")
    if not st.strip(b"\0"):
        return head_oid
    scratch = tempfile.mkdtemp(prefix="orchflow-finish-")
    try:
        env = {"GIT_INDEX_FILE": os.path.join(scratch, "index")}
        await agent.run("read-tree", "HEAD", env=env, read_only=False)
        await agent.run("add", "-A", env=env, read_only=False)
        _, tree, _ = await agent.run("write-tree", env=env, read_only=False)
        _, commit, _ = await agent.run(
            "commit-tree", tree.decode().strip(), "-p", head_oid, "-F", "-",
            stdin=message.encode(), read_only=False,
        )  # fmt: skip
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
    return commit.decode().strip()


async def _conflicts(user: Git, tip: str) -> list[str]:
    rc, out, _ = await user.run(
        "merge-tree", "--write-tree", "--name-only", "--no-messages", "HEAD", tip,
        ok_codes=(0, 1),
    )  # fmt: skip
    if rc == 0:
        return []
    lines = out.decode("utf-8", errors="replace").split("\n")
    return sorted({ln for ln in lines[1:] if ln.strip()})


def _would_overwrite(exc: GitCommandError) -> list[str]:
    """The files git names in "Your local changes ... would be overwritten"."""
    lines = exc.stderr.splitlines()
    return [ln.strip() for ln in lines if ln.startswith("\t")]


async def finish(
    user: Git,
    agent: Git,
    *,
    agent_name: str,
    branch: str | None,
    strategy: str,
    message: str | None,
) -> dict[str, Any]:
    """Land the agent's work; ``{strategy, commit, files, branch}`` or ConflictError."""
    if git_version(user.binary) < MERGE_TREE:
        raise UnavailableError(
            "review.finish needs git >= 2.38 (merge-tree --write-tree finds conflicts without "
            f"touching your tree); this is git {'.'.join(map(str, git_version(user.binary)))}"
        )
    st = await git_repo.status(user)
    if st["head"] is None:
        raise ConflictError(f"{user.root} has no commit to merge into")
    if st["staged"] or st["conflicted"]:
        paths = [e["path"] for e in st["staged"] + st["conflicted"]]
        raise ConflictError(
            f"your index has staged changes ({', '.join(paths[:5])}): commit or unstage them "
            "before finishing a review; nothing was merged",
            files=paths[:50],
        )
    title = message or f"{agent_name}: reviewed work ({branch or 'detached'})"
    tip = await _snapshot(agent, f"{agent_name}: uncommitted work at review.finish")
    _, changed_out, _ = await user.run("diff", "--name-only", "-z", "HEAD", tip)
    changed = [p.decode(errors="replace") for p in changed_out.split(b"\0") if p]
    if not changed:
        raise ConflictError(
            f"agent {agent_name} has nothing that is not in your branch already; nothing merged"
        )
    mine = {e["path"] for e in st["unstaged"] + st["untracked"]} & set(changed)
    if mine:
        raise ConflictError(
            f"you have uncommitted edits to {', '.join(sorted(mine)[:10])}, which agent "
            f"{agent_name}'s work changes too: commit, stash or undo them (or accept hunk by "
            "hunk) first; nothing was merged and its worktree is kept",
            files=sorted(mine),
        )
    conflicts = await _conflicts(user, tip)
    if conflicts:
        raise ConflictError(
            f"merging agent {agent_name}'s work conflicts in {', '.join(conflicts[:10])}: "
            "nothing was committed and its worktree is kept; resolve it there (or reject "
            "the conflicting hunks) and finish again",
            files=conflicts,
        )
    # move the agent's branch (or detached HEAD) to the snapshot
    _, head, _ = await agent.run("rev-parse", "HEAD")
    if tip != head.decode().strip():
        ref = f"refs/heads/{branch}" if branch else "HEAD"
        await agent.run("update-ref", "-m", "orchflow review.finish", ref, tip,
                        head.decode().strip(), read_only=False)  # fmt: skip
        await agent.run("reset", "-q", read_only=False)
    source = branch or tip
    try:
        if strategy == "merge":
            await user.run("merge", "--no-ff", "-q", "-m", title, source,
                           read_only=False, timeout_s=MERGE_TIMEOUT_S)  # fmt: skip
        elif strategy == "squash":
            await user.run("merge", "--squash", "-q", source,
                           read_only=False, timeout_s=MERGE_TIMEOUT_S)  # fmt: skip
            await user.run("commit", "-q", "--no-verify", "-F", "-",
                           stdin=title.encode(), read_only=False)  # fmt: skip
        else:
            _, onto, _ = await user.run("rev-parse", "HEAD")
            await _rebase(agent, onto.decode().strip())
            _, rebased, _ = await agent.run("rev-parse", "HEAD")
            await user.run("merge", "--ff-only", "-q", rebased.decode().strip(),
                           read_only=False)  # fmt: skip
    except GitCommandError as exc:
        if "tell me who you are" in exc.stderr:
            raise UnavailableError(
                "git does not know who you are: set git config --global user.name and user.email"
            ) from None
        files = _would_overwrite(exc)
        raise ConflictError(
            f"git refused to {strategy}: {exc.stderr}; nothing was committed and the agent's "
            "worktree is kept",
            files=files,
        ) from None
    entry = (await git_repo.log(user, 1))[0]
    return {
        "strategy": strategy,
        "commit": entry["commit"],
        "subject": entry["subject"],
        "files": changed,
        "branch": st["branch"],
    }


async def _rebase(agent: Git, onto: str) -> None:
    """Replay the agent's commits onto ``onto`` in its worktree; a conflict aborts."""
    try:
        await agent.run("rebase", "-q", onto, read_only=False, timeout_s=MERGE_TIMEOUT_S)
    except GitCommandError as exc:
        _, out, _ = await agent.run("diff", "--name-only", "--diff-filter=U", ok_codes=(0, 1, 128))
        files = sorted({ln for ln in out.decode(errors="replace").splitlines() if ln})
        with contextlib.suppress(GitCommandError):
            await agent.run("rebase", "--abort", read_only=False)
        raise ConflictError(
            f"rebasing the agent's commits conflicts in {', '.join(files[:10]) or '?'}: "
            f"nothing was committed; the rebase was aborted ({exc.stderr})",
            files=files,
        ) from None
