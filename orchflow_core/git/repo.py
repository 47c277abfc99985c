"""Git operations on one repository: what ``git.*`` methods do, in plain async functions.

Staging a hunk rebuilds a patch from the diff as it is *now* and applies it to the index
with ``git apply --cached`` (``--reverse`` to unstage): a hunk id that is not in the
current diff (the file changed since it was shown) is refused and nothing is applied; the
whole request is one patch, so either every hunk lands or none does.
"""

from __future__ import annotations

from typing import Any

from orchflow_core.errors import ConflictError, InvalidArgumentError, UnavailableError
from orchflow_core.git import parse
from orchflow_core.git.runner import Git, GitCommandError

DIFF_ARGS = (
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "-U3",
)
MAX_LOG = 1000
COMMIT_TIMEOUT_S = 600.0  # the repository's hooks may run a test suite
# hunk id -> its file's path, from the diffs read lately: staging those hunks then diffs
# only their files (an unknown id falls back to the whole diff). Bounded.
_HUNK_PATHS: dict[str, str] = {}
_HUNK_PATHS_MAX = 20_000


def _remember(files: list[parse.FileDiff]) -> None:
    if len(_HUNK_PATHS) > _HUNK_PATHS_MAX:
        _HUNK_PATHS.clear()
    for f in files:
        for h in f.hunks:
            _HUNK_PATHS[h.id] = f.path


async def status(git: Git) -> dict[str, Any]:
    """{root, branch, detached, head, upstream, ahead, behind, staged, unstaged, untracked,
    conflicted}; ``branch`` is null and ``detached`` true on a detached HEAD."""
    _, out, _ = await git.run("status", "--porcelain=v2", "-z", "--branch")
    result = parse.parse_status(out)
    return {"root": str(git.root), **result}


async def _diff_files(
    git: Git, *, staged: bool, paths: list[str] | None = None
) -> list[parse.FileDiff]:
    args = [*DIFF_ARGS, "-M"] if staged else list(DIFF_ARGS)
    if staged:
        args.append("--cached")
    _, out, _ = await git.run(*args, "--", *(paths or []))
    return parse.parse_diff(out, staged=staged)


async def diff(git: Git, *, path: str | None = None, staged: bool = False) -> dict[str, Any]:
    """{root, staged, files: [{path, status, binary, hunks: [hunk], old_path?, mode?,
    hunks_refused?}]}: the unstaged changes (worktree against index), or with ``staged``
    the staged ones (index against HEAD)."""
    files = await _diff_files(git, staged=staged, paths=[path] if path else None)
    _remember(files)
    return {"root": str(git.root), "staged": staged, "files": [f.to_dict() for f in files]}


def _paths(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise InvalidArgumentError(
            "paths must be a non-empty list of paths relative to the repository root",
            param="paths",
        )
    for p in value:
        if not p or p.startswith("/") or "\0" in p or ".." in p.split("/"):
            raise InvalidArgumentError(
                f"path {p!r} must be relative to the repository root, without '..'",
                param="paths",
            )
    return list(value)


async def _changed(git: Git) -> dict[str, Any]:
    return await status(git)


async def stage_paths(git: Git, paths: Any) -> dict[str, Any]:
    """``git add`` of whole files (new, changed or deleted)."""
    wanted = _paths(paths)
    st = await _changed(git)
    changed = {e["path"] for e in st["unstaged"] + st["untracked"] + st["conflicted"]}
    dirs = [p.rstrip("/") + "/" for p in changed if p.endswith("/")]
    unknown = [p for p in wanted if p not in changed and not any(p.startswith(d) for d in dirs)]
    if unknown:
        raise InvalidArgumentError(
            f"nothing to stage in {unknown[0]!r}: it has no unstaged change "
            f"(unstaged: {', '.join(sorted(changed)[:10]) or 'none'})",
            param="paths",
            path=unknown[0],
        )
    await _refuse_untrusted_filters(git, wanted)
    await git.run("add", "-A", "--", *wanted, read_only=False)
    return {"staged": wanted, **await status(git)}


async def _refuse_untrusted_filters(git: Git, paths: list[str]) -> None:
    """Staging a file whose filter is defined only in the repository's own config would
    either run that program or store unfiltered content: refuse, saying how to trust it."""
    if not git.untrusted_filters:
        return
    _, out, _ = await git.run("check-attr", "-z", "filter", "--", *paths)
    fields = out.split(b"\0")
    for path_b, _, value_b in zip(fields[0::3], fields[1::3], fields[2::3], strict=False):
        name = value_b.decode(errors="replace").lower()
        if name in git.untrusted_filters:
            prog = next(iter(git.untrusted_filters[name].items()))
            raise UnavailableError(
                f"{path_b.decode(errors='replace')} uses filter {name!r}, which only this "
                f"repository's own .git/config defines (filter.{name}.{prog[0]} = {prog[1]!r}); "
                "orchflow does not run programs a repository names. Stage it with git in a "
                f"terminal, or define filter.{name} in your global git config to trust it",
                filter=name,
            )


async def unstage_paths(git: Git, paths: Any) -> dict[str, Any]:
    """Take whole files out of the index (back to HEAD; a rename both sides)."""
    wanted = _paths(paths)
    st = await _changed(git)
    staged = {e["path"]: e for e in st["staged"]}
    unknown = [p for p in wanted if p not in staged]
    if unknown:
        raise InvalidArgumentError(
            f"nothing to unstage in {unknown[0]!r}: it has no staged change "
            f"(staged: {', '.join(sorted(staged)[:10]) or 'none'})",
            param="paths",
            path=unknown[0],
        )
    targets = list(wanted)
    targets += [staged[p]["orig_path"] for p in wanted if staged[p].get("orig_path")]
    if st["head"] is None:  # no commit yet: the index entries go
        await git.run("rm", "--cached", "-r", "-q", "--", *targets, read_only=False)
    else:
        await git.run("reset", "-q", "HEAD", "--", *targets, read_only=False, ok_codes=(0, 1))
    return {"unstaged": wanted, **await status(git)}


def _hunk_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(h, str) for h in value):
        raise InvalidArgumentError(
            "hunks must be a non-empty list of hunk ids (from git.diff)", param="hunks"
        )
    return list(value)


async def apply_hunks(git: Git, hunks: Any, *, reverse: bool) -> dict[str, Any]:
    """Stage (or with ``reverse`` unstage) the hunks with these ids, all or none."""
    ids = _hunk_ids(hunks)
    known = {_HUNK_PATHS.get(i) for i in ids}
    # The unstaged side has no renames, so its diff can be limited to the hunks' files; the
    # staged side is read whole (a rename must be seen as one, and its hunks refused).
    limit = None if reverse or None in known else sorted(p for p in known if p)
    files = await _diff_files(git, staged=reverse, paths=limit)
    found: dict[str, tuple[parse.FileDiff, parse.Hunk]] = {
        h.id: (f, h) for f in files for h in f.hunks
    }
    missing = [i for i in ids if i not in found]
    if missing:
        side = "staged" if reverse else "unstaged"
        raise ConflictError(
            f"hunk {missing[0]} is not in the {side} diff any more: its file changed since "
            "the diff was read; nothing was applied. Read git.diff again",
            hunk=missing[0],
        )
    by_file: dict[int, tuple[parse.FileDiff, list[parse.Hunk]]] = {}
    for i in ids:
        f, h = found[i]
        by_file.setdefault(id(f), (f, []))[1].append(h)
    patch = bytearray()
    for f, chosen in by_file.values():
        refusal = f.hunk_refusal()
        if refusal:
            verb = "unstage" if reverse else "stage"
            raise ConflictError(
                f"cannot {verb} hunks of {parse.display(f.path)}: {refusal}; "
                f"{verb} the whole file (paths) instead; nothing was applied",
                path=parse.display(f.path),
            )
        patch += parse.build_patch(f, chosen, reverse=reverse)
    args = ["apply", "--cached", "--whitespace=nowarn"]
    if reverse:
        args.append("--reverse")
    try:  # git apply is all or nothing: one hunk that fails and none is applied
        await git.run(*args, "-", stdin=bytes(patch), read_only=False)
    except GitCommandError as exc:
        raise ConflictError(
            f"the hunks no longer apply to the index; nothing was applied ({exc.stderr})",
            hunks=ids,
        ) from None
    key = "unstaged_hunks" if reverse else "staged_hunks"
    return {key: ids, **await status(git)}


async def commit(git: Git, message: str, *, hooks: bool = True) -> dict[str, Any]:
    """Commit what is staged; ``hooks`` false runs none of the repository's hooks."""
    if not message.strip():
        raise InvalidArgumentError("message is empty; write what the commit does", param="message")
    st = await status(git)
    if not st["staged"]:
        raise ConflictError("nothing is staged to commit; stage files or hunks first")
    if st["conflicted"]:
        raise ConflictError(
            "resolve the conflicts first: " + ", ".join(e["path"] for e in st["conflicted"][:10]),
        )
    try:
        await git.run(
            "commit", "-q", "--cleanup=strip", "-F", "-",
            stdin=message.encode(), hooks=hooks, read_only=False, timeout_s=COMMIT_TIMEOUT_S,
        )  # fmt: skip
    except GitCommandError as exc:
        if "tell me who you are" in exc.stderr or "user.email" in exc.stderr:
            raise UnavailableError(
                "git does not know who you are: set git config --global user.name and user.email"
            ) from None
        raise ConflictError(f"git commit refused: {exc.stderr}", stderr=exc.stderr) from None
    entry = (await log(git, 1))[0]
    return {"commit": entry["commit"], "short": entry["short"], "subject": entry["subject"],
            "branch": st["branch"], "detached": st["detached"]}  # fmt: skip


async def branches(git: Git) -> list[dict[str, Any]]:
    """Local branches, then remote-tracking ones: {name, ref, remote, commit, current,
    upstream, track, date, subject}."""
    _, out, _ = await git.run(
        "for-each-ref", f"--format={parse.BRANCH_FORMAT}", "refs/heads", "refs/remotes"
    )
    return parse.parse_branches(out)


async def worktrees(git: Git) -> list[dict[str, Any]]:
    """{path, head, branch, detached, bare, locked, prunable} for every worktree."""
    _, out, _ = await git.run("worktree", "list", "--porcelain", "-z")
    return parse.parse_worktrees(out)


async def log(git: Git, n: int) -> list[dict[str, Any]]:
    """The last ``n`` commits of HEAD: {commit, short, author, email, date, refs, subject};
    [] before the first commit."""
    if not 1 <= n <= MAX_LOG:
        raise InvalidArgumentError(f"n must be from 1 to {MAX_LOG}, got {n}", param="n")
    rc, out, err = await git.run(
        "log", f"-n{n}", "-z", f"--format={parse.LOG_FORMAT}", "--no-show-signature",
        ok_codes=(0, 128),
    )  # fmt: skip
    if rc == 128:
        if "does not have any commits" in err:  # an unborn branch has no log
            return []
        raise GitCommandError(f"git log failed: {err.strip()}", returncode=rc, stderr=err)
    return parse.parse_log(out)
