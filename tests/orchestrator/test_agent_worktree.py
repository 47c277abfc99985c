"""agent.create {worktree} against a real orchestrator process, a real tmux server and real
git repositories: branch + worktree, .worktreeinclude copy, a leased port, the setup script
in a pane with its environment, agent.get, teardown on agent.stop {remove_worktree}; and
the faults: a failing or hanging setup script, one that deletes its own directory, a
pattern reaching outside the repository, an existing branch, not a repository, a dirty
worktree at stop. After every failure nothing is left: no worktree, no branch, no pane."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    OrchflowError,
    TimeoutError_,
    UnavailableError,
)
from tests.git.test_methods import commit_all, git, make_repo
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess

SETUP = """#!/bin/sh
echo "setup for $ORCHFLOW_WORKSPACE_NAME"
printf '%s\\n' "$ORCHFLOW_ROOT_PATH" "$ORCHFLOW_WORKSPACE_PATH" "$ORCHFLOW_WORKSPACE_NAME" \
  "$ORCHFLOW_PORT" "$PWD" > .setup-ran
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "proj")
    (root / ".gitignore").write_text(".env\nsecrets/\nbuild/\n.setup-ran\nnode_modules/\n")
    (root / ".worktreeinclude").write_text("# copied into every agent's worktree\n.env\nsecrets/\n")
    (root / "app.py").write_text("print('app')\n")
    (root / ".orchflow").mkdir()
    (root / ".orchflow" / "worktree-setup.sh").write_text(SETUP)
    commit_all(root)
    (root / ".env").write_text("TOKEN=abc\n")
    (root / "secrets").mkdir()
    (root / "secrets" / "key.pem").write_bytes(b"\x00key\r\n")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_text("big\n")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("module.exports = 1\n")
    return root


async def start(tmp_path: Path, tmux: TmuxServer, repo: Path, **wt: Any) -> OrchestratorProcess:
    wt = {"dir": str(tmp_path / "worktrees"), "port_min": 47100, "port_max": 47199, **wt}
    config = {"worktree": wt}
    return await OrchestratorProcess.start(
        tmp_path / "home", tmux.socket, "--core-config", json.dumps(config), project_root=repo
    )


@pytest.fixture
async def orch_wt(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> AsyncIterator[OrchestratorProcess]:
    server = await start(
        tmp_path, private_tmux, repo, setup_timeout_s=20, symlinks=["node_modules", ".venv"]
    )
    try:
        yield server
    finally:
        await server.stop()


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").decode().split()


def worktree_paths(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain").decode()
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def pane_names(tmux: TmuxServer) -> list[str]:
    return tmux.run("list-panes", "-a", "-F", "#{@orchflow_name}").split()


def assert_nothing_left(repo: Path, tmp_path: Path, tmux: TmuxServer) -> None:
    assert branches(repo) == ["main"]
    assert worktree_paths(repo) == [str(repo)]
    wt_dir = tmp_path / "worktrees" / "proj"
    assert not wt_dir.exists() or list(wt_dir.iterdir()) == []
    assert not [n for n in pane_names(tmux) if n.startswith("agent1")], pane_names(tmux)


async def test_agent_in_its_own_bootstrapped_worktree_and_teardown(
    orch_wt: OrchestratorProcess, repo: Path, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    client = await orch_wt.client()
    try:
        features = (await client.call("system.features", {}))["features"]
        assert features["worktrees"]["status"] == "implemented"
        assert features["worktrees"]["ports"] == [47100, 47199]
        agent = await client.call(
            "agent.create",
            {"type": "custom", "name": "agent1", "command": "sleep 300", "worktree": True},
        )
        wt = agent["worktree"]
        path = tmp_path / "worktrees" / "proj" / "agent1"
        assert wt["path"] == str(path) and wt["branch"] == "orchflow/agent1"
        assert wt["base"] == "main" and wt["root"] == str(repo) and wt["copied"] == 2
        assert 47100 <= wt["port"] <= 47199
        assert agent["cwd"] == str(path)
        # a branch and a worktree, at main's commit
        assert "orchflow/agent1" in branches(repo) and str(path) in worktree_paths(repo)
        assert git(path, "rev-parse", "HEAD") == git(repo, "rev-parse", "main")
        # .worktreeinclude: ignored files that match are copied byte for byte; others not
        assert (path / ".env").read_text() == "TOKEN=abc\n"
        assert (path / "secrets" / "key.pem").read_bytes() == b"\x00key\r\n"
        assert not (path / "build").exists()
        # symlinks: node_modules is linked, not copied; .venv is absent and skipped
        assert wt["linked"] == ["node_modules"]
        assert (path / "node_modules").resolve() == repo / "node_modules"
        # ... and git ignores the link (node_modules/ in .gitignore only matches a directory)
        assert git(path, "status", "--porcelain") == b""
        assert "/node_modules" in (repo / ".git" / "info" / "exclude").read_text()
        # the setup script ran in the worktree with its environment
        ran = (path / ".setup-ran").read_text().splitlines()
        assert ran == [str(repo), str(path), "agent1", str(wt["port"]), str(path)]
        # its output is in a pane the user can open
        setup_out = await client.call("agent.output", {"id": "agent1"})  # the agent's pane
        assert setup_out["state"] == "idle"
        assert "agent1-setup" in pane_names(private_tmux)
        setup_pane = _pane(private_tmux, "agent1-setup")
        screen = private_tmux.run("capture-pane", "-p", "-S", "-", "-t", setup_pane)
        assert "setup for agent1" in screen
        # agent.get shows the worktree; a second agent gets another port
        got = await client.call("agent.get", {"id": "agent1"})
        assert got["worktree"] == wt
        other = await client.call(
            "agent.create",
            {"type": "custom", "name": "agent2",
             "command": "sh -c 'echo port=$ORCHFLOW_PORT in $ORCHFLOW_WORKSPACE_NAME; exec cat'",
             "worktree": {"branch": "feature/two", "base": "main"}},
        )  # fmt: skip
        assert other["worktree"]["branch"] == "feature/two"
        assert other["worktree"]["port"] != wt["port"]
        # the agent itself gets the same variables
        want = f"port={other['worktree']['port']} in agent2"
        for _ in range(100):
            if want in (await client.call("agent.output", {"id": "agent2"}))["text"]:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(await client.call("agent.output", {"id": "agent2"}))
        # git.worktrees sees both
        listed = [w["path"] for w in await client.call("git.worktrees", {})]
        assert listed == [str(repo), str(path), other["worktree"]["path"]]

        # a dirty worktree is not removed without force: nothing stops
        (path / "app.py").write_text("print('changed by the agent')\n")
        with pytest.raises(ConflictError) as dirty:
            await client.call("agent.stop", {"id": "agent1", "remove_worktree": True})
        assert "uncommitted changes (app.py)" in dirty.value.message
        assert (await client.call("agent.get", {"id": "agent1"}))["state"] == "idle"
        # committed work keeps the branch; the worktree goes
        git(path, "commit", "-qam", "agent work")
        stopped = await client.call("agent.stop", {"id": "agent1", "remove_worktree": True})
        assert stopped["stopped"] is True and stopped["worktree"]["removed"] is True
        assert stopped["worktree"]["branch_deleted"] is False
        assert "has commits not in main" in stopped["worktree"]["branch_kept"]
        assert not path.exists() and "orchflow/agent1" in branches(repo)
        # removing the worktree removed the link, not the repository's node_modules
        assert (repo / "node_modules" / "pkg" / "index.js").read_text() == "module.exports = 1\n"
        assert "agent1-setup" not in pane_names(private_tmux)
        # an agent that made no commit: its branch is merged, so it goes as well
        stopped = await client.call("agent.stop", {"id": "agent2", "remove_worktree": True})
        assert stopped["worktree"]["branch_deleted"] is True
        assert "feature/two" not in branches(repo)
        assert worktree_paths(repo) == [str(repo)]
    finally:
        await client.close()


def _pane(tmux: TmuxServer, name: str) -> str:
    for line in tmux.run("list-panes", "-a", "-F", "#{pane_id} #{@orchflow_name}").splitlines():
        pane_id, _, pane_name = line.partition(" ")
        if pane_name == name:
            return pane_id
    raise AssertionError(f"no pane {name}")


async def create_fails(client: Any, **params: Any) -> OrchflowError:
    with pytest.raises(OrchflowError) as err:
        await client.call(
            "agent.create", {"type": "custom", "name": "agent1", "command": "sleep 300", **params}
        )
    return err.value


async def test_a_failing_setup_leaves_nothing_and_says_why(
    orch_wt: OrchestratorProcess, repo: Path, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    (repo / ".orchflow" / "worktree-setup.sh").write_text(
        "echo installing\necho 'npm ERR! missing script: bootstrap' >&2\nexit 3\n"
    )
    commit_all(repo, "failing setup")
    client = await orch_wt.client()
    try:
        err = await create_fails(client, worktree=True)
        assert isinstance(err, ConflictError)
        assert "failed (exit code 3)" in err.message
        assert "npm ERR! missing script: bootstrap" in err.message
        assert_nothing_left(repo, tmp_path, private_tmux)
        assert await client.call("agent.list", {}) == []
        # a script that deletes its own directory and fails: still cleaned up
        (repo / ".orchflow" / "worktree-setup.sh").write_text('rm -rf "$PWD"\nexit 1\n')
        commit_all(repo, "self-deleting setup")
        err = await create_fails(client, worktree=True)
        assert "exit code 1" in err.message
        assert_nothing_left(repo, tmp_path, private_tmux)
    finally:
        await client.close()


async def test_a_hanging_setup_is_stopped_at_its_timeout(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    (repo / ".orchflow" / "worktree-setup.sh").write_text("echo waiting forever\nsleep 600\n")
    commit_all(repo, "hanging setup")
    server = await start(tmp_path, private_tmux, repo, setup_timeout_s=1)
    try:
        async with await server.client() as client:
            err = await create_fails(client, worktree=True)
            assert isinstance(err, TimeoutError_)
            assert "still ran after 1 s" in err.message and "waiting forever" in err.message
            assert_nothing_left(repo, tmp_path, private_tmux)
    finally:
        await server.stop()


async def test_bad_requests_are_refused_before_anything_is_made(
    orch_wt: OrchestratorProcess, repo: Path, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    client = await orch_wt.client()
    try:
        git(repo, "branch", "taken")
        err = await create_fails(client, worktree={"branch": "taken"})
        assert isinstance(err, ConflictError) and "branch 'taken' exists" in err.message
        err = await create_fails(client, worktree={"base": "no-such-branch"})
        assert isinstance(err, InvalidArgumentError) and "'no-such-branch'" in err.message
        err = await create_fails(client, worktree={"branch": "x", "colour": "red"})
        assert isinstance(err, InvalidArgumentError) and "'colour'" in err.message
        err = await create_fails(client, worktree="yes")
        assert isinstance(err, InvalidArgumentError) and "worktree must be" in err.message
        plain = tmp_path / "plain"
        plain.mkdir()
        err = await create_fails(client, worktree=True, cwd=str(plain))
        assert isinstance(err, UnavailableError) and "not in a git repository" in err.message
        # a .worktreeinclude pattern that reaches outside the repository
        (repo / ".worktreeinclude").write_text(".env\n../outside/secret\n")
        err = await create_fails(client, worktree=True)
        assert isinstance(err, InvalidArgumentError)
        assert "line 2" in err.message and "'../outside/secret'" in err.message
        git(repo, "branch", "-D", "taken")
        assert_nothing_left(repo, tmp_path, private_tmux)
        # without worktree nothing of this happens: the agent runs in the project
        agent = await client.call(
            "agent.create", {"type": "custom", "name": "plain1", "command": "sleep 300"}
        )
        assert agent["worktree"] is None and agent["cwd"] == str(repo)
        with pytest.raises(InvalidArgumentError):
            await client.call("agent.stop", {"id": "plain1", "remove_worktree": True})
        await client.call("agent.stop", {"id": "plain1"})
    finally:
        await client.close()


@pytest.mark.timeout(240)  # tmux takes in 50 MB: ~20 s here
async def test_a_setup_that_prints_50_mb_fails_with_its_last_lines(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    (repo / ".orchflow" / "worktree-setup.sh").write_text(
        "head -c 50000000 /dev/zero | tr '\\0' x | fold -w 100\necho 'last words'\nexit 7\n"
    )
    commit_all(repo, "noisy setup")
    server = await start(tmp_path, private_tmux, repo, setup_timeout_s=300)
    try:
        async with await server.client() as client:
            err = await create_fails(client, worktree=True)
            assert "exit code 7" in err.message and err.message.endswith("last words")
            assert len(err.message) < 5000  # the last lines, not the 50 MB
            assert_nothing_left(repo, tmp_path, private_tmux)
            assert (await client.call("system.health", {}))["status"] == "ok"
    finally:
        await server.stop()


async def test_orphan_worktrees_are_found_and_cleaned_up(
    orch_wt: OrchestratorProcess, repo: Path, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    client = await orch_wt.client()
    try:
        for name in ("agent1", "agent2"):
            await client.call(
                "agent.create",
                {"type": "custom", "name": name, "command": "sleep 300", "worktree": True},
            )
        # agent1's pane is killed from outside: its worktree has no agent any more
        private_tmux.run("kill-pane", "-t", _pane(private_tmux, "agent1"))
        rows = {Path(w["path"]).name: w for w in await client.call("agent.worktrees", {})}
        assert rows["agent1"]["orphan"] is True and rows["agent1"]["agent"] is None
        assert rows["agent2"]["orphan"] is False and rows["agent2"]["agent"] == "agent2"
        assert rows["agent1"]["branch"] == "orchflow/agent1"
        # a dirty orphan is kept, with why
        orphan = Path(rows["agent1"]["path"])
        (orphan / "app.py").write_text("unsaved agent work\n")
        done = await client.call("agent.cleanup", {})
        assert done["removed"] == [] and orphan.exists()
        assert done["kept"] == [{"path": str(orphan), "why": "uncommitted changes: app.py"}]
        # once clean it goes, with its merged branch; agent2's stays
        git(orphan, "checkout", "--", "app.py")
        done = await client.call("agent.cleanup", {})
        [gone] = done["removed"]
        assert gone["path"] == str(orphan) and gone["branch_deleted"] is True
        assert not orphan.exists() and "orchflow/agent1" not in branches(repo)
        assert [Path(p).name for p in worktree_paths(repo)] == ["proj", "agent2"]
    finally:
        await client.close()


async def test_a_setup_script_with_nothing_to_run_is_not_started(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    (repo / ".orchflow" / "worktree-setup.sh").write_text("#!/bin/sh\n# nothing yet\n\n")
    commit_all(repo, "empty setup")
    server = await start(tmp_path, private_tmux, repo)
    client = await server.client()
    try:
        agent = await client.call(
            "agent.create",
            {"type": "custom", "name": "agent1", "command": "sleep 300", "worktree": True},
        )
        assert agent["worktree"]["copied"] == 2
        assert "agent1" in pane_names(private_tmux)
        assert "agent1-setup" not in pane_names(private_tmux)
    finally:
        await client.close()
        await server.stop()
