"""``git.*`` host and JSON-RPC methods (orchflow_core/git/repo.py does the work).

Every method takes ``cwd?``: a directory inside the repository (default: the project
root). Paths in and out are relative to the repository root.
"""

from __future__ import annotations

from typing import Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import InvalidArgumentError
from orchflow_core.git import repo
from orchflow_core.git.runner import Git


async def _open(core: Any, params: Params) -> Git:
    cwd = param(params, "cwd", str, None) or str(core.project_root)
    return await Git.open(cwd)


def _paths_or_hunks(params: Params) -> tuple[Any, Any]:
    paths, hunks = params.get("paths"), params.get("hunks")
    if (paths is None) == (hunks is None):
        raise InvalidArgumentError(
            "give either paths (whole files) or hunks (hunk ids from git.diff), not both "
            "and not neither",
            param="paths" if paths is not None else "hunks",
        )
    return paths, hunks


@METHODS.method("git.status")
async def git_status(core: Any, params: Params) -> dict[str, Any]:
    return await repo.status(await _open(core, params))


@METHODS.method("git.diff")
async def git_diff(core: Any, params: Params) -> dict[str, Any]:
    return await repo.diff(
        await _open(core, params),
        path=param(params, "path", str, None),
        staged=param(params, "staged", bool, False),
    )


@METHODS.method("git.stage")
async def git_stage(core: Any, params: Params) -> dict[str, Any]:
    paths, hunks = _paths_or_hunks(params)
    git = await _open(core, params)
    if paths is not None:
        return await repo.stage_paths(git, paths)
    return await repo.apply_hunks(git, hunks, reverse=False)


@METHODS.method("git.unstage")
async def git_unstage(core: Any, params: Params) -> dict[str, Any]:
    paths, hunks = _paths_or_hunks(params)
    git = await _open(core, params)
    if paths is not None:
        return await repo.unstage_paths(git, paths)
    return await repo.apply_hunks(git, hunks, reverse=True)


@METHODS.method("git.commit")
async def git_commit(core: Any, params: Params) -> dict[str, Any]:
    return await repo.commit(
        await _open(core, params),
        param(params, "message", str),
        hooks=param(params, "hooks", bool, True),
    )


@METHODS.method("git.branches")
async def git_branches(core: Any, params: Params) -> list[dict[str, Any]]:
    return await repo.branches(await _open(core, params))


@METHODS.method("git.worktrees")
async def git_worktrees(core: Any, params: Params) -> list[dict[str, Any]]:
    return await repo.worktrees(await _open(core, params))


@METHODS.method("git.log")
async def git_log(core: Any, params: Params) -> list[dict[str, Any]]:
    return await repo.log(await _open(core, params), param(params, "n", int, 20))
