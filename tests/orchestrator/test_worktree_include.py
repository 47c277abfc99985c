"""The ``.worktreeinclude`` copy of agent.create {worktree} (orchestrator/worktree_include.py)
against a real orchestrator process, tmux server and git repositories: the files are
copied aside while git checks out and moved in after, keeping what ``cp -a`` keeps
(contents, modes, times, symlinks, extended attributes, the modes of the directories it
makes), merged into a directory the checkout has; an included file where the base's
checkout has a directory is refused with nothing left; one rev-parse resolves a detached
HEAD; an invalid branch name is still named as such; a copy an interrupted create left is
removed by agent.cleanup."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError
from tests.git.test_methods import commit_all, git, make_repo
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.test_agent_worktree import assert_nothing_left, create_fails, start

OLD = 1_600_000_000  # a time no file made now has


def _xattr(path: Path) -> bool:
    """Give ``path`` a user xattr; False where the filesystem takes none."""
    try:
        os.setxattr(path, "user.orchflow", b"kept")
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):
            return False
        raise
    return True


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "proj")
    (root / ".gitignore").write_text(".env*\nsecrets/\nconfig/local.env\nbuild/\n")
    (root / ".worktreeinclude").write_text(".env*\nsecrets/\nconfig/local.env\n")
    (root / "config").mkdir()
    (root / "config" / "app.toml").write_text("tracked = true\n")
    (root / "app.py").write_text("print('app')\n")
    commit_all(root)
    (root / ".env").write_text("TOKEN=abc\n")
    (root / ".env.link").symlink_to(".env")
    (root / "config" / "local.env").write_text("LOCAL=1\n")
    os.chmod(root / "config" / "local.env", 0o600)
    (root / "secrets" / "deep").mkdir(parents=True)
    (root / "secrets" / "key.pem").write_bytes(b"\x00key\r\n")
    os.chmod(root / "secrets" / "key.pem", 0o640)
    (root / "secrets" / "deep" / "run.sh").write_text("echo hi\n")
    os.chmod(root / "secrets" / "deep" / "run.sh", 0o750)
    os.utime(root / "secrets" / "key.pem", (OLD, OLD))
    os.chmod(root / "secrets" / "deep", 0o711)
    os.chmod(root / "secrets", 0o700)
    (root / "build").mkdir()
    (root / "build" / "out.o").write_text("not included\n")
    return root


def _mode(path: Path) -> int:
    return path.lstat().st_mode & 0o7777


async def test_included_files_land_as_cp_a_would_copy_them(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    xattrs = _xattr(repo / ".env")
    server = await start(tmp_path, private_tmux, repo)
    try:
        async with await server.client() as client:
            agent = await client.call(
                "agent.create",
                {"type": "custom", "name": "agent1", "command": "sleep 300", "worktree": True},
            )
            path = Path(agent["worktree"]["path"])
            assert agent["worktree"]["copied"] == 5
            assert (path / ".env").read_text() == "TOKEN=abc\n"
            assert (path / ".env.link").is_symlink()
            assert os.readlink(path / ".env.link") == ".env"
            # into a directory the checkout has, beside its tracked file
            assert (path / "config" / "local.env").read_text() == "LOCAL=1\n"
            assert _mode(path / "config" / "local.env") == 0o600
            assert (path / "config" / "app.toml").read_text() == "tracked = true\n"
            # a directory the checkout lacks, with its modes and times
            assert (path / "secrets" / "key.pem").read_bytes() == b"\x00key\r\n"
            assert _mode(path / "secrets" / "key.pem") == 0o640
            assert (path / "secrets" / "key.pem").stat().st_mtime == OLD
            assert _mode(path / "secrets" / "deep" / "run.sh") == 0o750
            assert _mode(path / "secrets" / "deep") == 0o711
            assert _mode(path / "secrets") == 0o700
            if xattrs:
                assert os.getxattr(path / ".env", "user.orchflow") == b"kept"
            assert not (path / "build").exists()
            # a copy, not a link to the repository's files
            (path / ".env").write_text("TOKEN=agent\n")
            assert (repo / ".env").read_text() == "TOKEN=abc\n"
            assert git(path, "status", "--porcelain") == b""
            # nothing of the copy is left beside the worktree
            assert sorted(p.name for p in path.parent.iterdir()) == ["agent1"]
    finally:
        await server.stop()


async def test_an_included_file_on_a_directory_of_the_base_is_refused(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "secrets").rename(tmp_path / "secrets-aside")
    (repo / ".gitignore").write_text(".env*\nconfig/local.env\nbuild/\n")
    (repo / "secrets" / "key.pem").mkdir(parents=True)  # a directory in this branch
    (repo / "secrets" / "key.pem" / "README").write_text("tracked here\n")
    commit_all(repo, "key.pem is a directory on other")
    git(repo, "checkout", "-q", "main")
    (tmp_path / "secrets-aside").rename(repo / "secrets")
    server = await start(tmp_path, private_tmux, repo)
    try:
        async with await server.client() as client:
            err = await create_fails(client, worktree={"base": "other"})
            assert isinstance(err, ConflictError)
            assert "key.pem is a directory in the new worktree's checkout" in err.message
            git(repo, "branch", "-D", "-q", "other")
            assert_nothing_left(repo, tmp_path, private_tmux)
    finally:
        await server.stop()


async def test_base_and_branch_checks(tmp_path: Path, private_tmux: TmuxServer, repo: Path) -> None:
    server = await start(tmp_path, private_tmux, repo)
    try:
        async with await server.client() as client:
            err = await create_fails(client, worktree={"branch": "bad..name"})
            assert isinstance(err, InvalidArgumentError)
            assert "'bad..name' is not a valid branch name" in err.message
            err = await create_fails(client, worktree={"base": "--output=x"})
            assert isinstance(err, InvalidArgumentError) and "'--output=x'" in err.message
            assert_nothing_left(repo, tmp_path, private_tmux)
            # a detached HEAD: the base is its commit
            head = git(repo, "rev-parse", "HEAD").decode().strip()
            git(repo, "checkout", "-q", "--detach")
            agent = await client.call(
                "agent.create",
                {"type": "custom", "name": "agent1", "command": "sleep 300", "worktree": True},
            )
            assert agent["worktree"]["base"] == head
            git(repo, "checkout", "-q", "main")
            # on a branch: its name
            agent = await client.call(
                "agent.create",
                {"type": "custom", "name": "agent2", "command": "sleep 300", "worktree": True},
            )
            assert agent["worktree"]["base"] == "main"
    finally:
        await server.stop()


async def test_a_copy_an_interrupted_create_left_is_cleaned_up(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    left = tmp_path / "worktrees" / "proj" / ".agent9.0badc0de.orchflow-include"
    (left / "secrets").mkdir(parents=True)
    (left / "secrets" / "key.pem").write_text("half\n")
    server: OrchestratorProcess = await start(tmp_path, private_tmux, repo)
    try:
        async with await server.client() as client:
            done = await client.call("agent.cleanup", {})
            assert done == {"removed": [], "kept": []}
            assert not left.exists()
    finally:
        await server.stop()
