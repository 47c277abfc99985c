"""git.* over the orchestrator's JSON-RPC, against a real process and a real repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError, UnavailableError
from tests.git.test_methods import LINES, commit_all, git, index_bytes, make_repo
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.test_workspace_rpc import _handler_params


async def test_git_status_diff_stage_commit_over_json_rpc(
    orch: OrchestratorProcess, project: Path, tmp_path: Path
) -> None:
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.name", "Test User")
    git(project, "config", "user.email", "test@example.com")
    (project / "a.txt").write_bytes(b"".join(LINES))
    commit_all(project)
    edited = list(LINES)
    edited[0], edited[25] = b"first\n", b"last\n"
    (project / "a.txt").write_bytes(b"".join(edited))
    client = await orch.client()
    try:
        features = (await client.call("system.features", {}))["features"]
        assert features["git"]["status"] == "implemented" and features["git"]["hunks"] is True
        st = await client.call("git.status", {})
        assert st["branch"] == "main"
        assert st["unstaged"] == [{"path": "a.txt", "status": "modified"}]
        hunks = (await client.call("git.diff", {"path": "a.txt"}))["files"][0]["hunks"]
        assert len(hunks) == 2
        await client.call("git.stage", {"hunks": [hunks[1]["id"]]})
        expected = list(LINES)
        expected[25] = b"last\n"
        assert index_bytes(project, "a.txt") == b"".join(expected)
        done = await client.call("git.commit", {"message": "Last line"})
        assert [e["subject"] for e in await client.call("git.log", {"n": 2})] == [
            "Last line",
            "init",
        ]
        assert done["branch"] == "main"
        # a stale hunk id: -32006, nothing applied
        with pytest.raises(ConflictError) as stale:
            await client.call("git.stage", {"hunks": [hunks[1]["id"]]})
        assert "nothing was applied" in stale.value.message
        # an unknown parameter is refused before anything runs
        with pytest.raises(InvalidArgumentError) as bad:
            await client.call("git.commit", {"message": "x", "amend": True})
        assert bad.value.data["param"] == "amend"
        # another directory that is no repository
        plain = tmp_path / "plain"
        plain.mkdir()
        with pytest.raises(UnavailableError) as not_repo:
            await client.call("git.status", {"cwd": str(plain)})
        assert "is not in a git repository" in not_repo.value.message
        # another repository by its cwd
        other = make_repo(tmp_path / "other")
        (other / "x").write_text("x\n")
        st = await client.call("git.status", {"cwd": str(other)})
        assert st["root"] == str(other) and st["untracked"][0]["path"] == "x"
    finally:
        await client.close()


def test_git_methods_declare_the_parameters_their_handlers_read() -> None:
    from orchestrator.methods import CORE_PARAMS

    handlers = _handler_params("orchflow_core.git.methods")
    assert set(handlers) == {n for n in CORE_PARAMS if n.startswith("git.")}
    for name, read in handlers.items():
        assert read <= CORE_PARAMS[name], (name, read - CORE_PARAMS[name])
    # paths and hunks are read with params.get (one of the two): declared too
    assert {"paths", "hunks"} <= CORE_PARAMS["git.stage"] & CORE_PARAMS["git.unstage"]
