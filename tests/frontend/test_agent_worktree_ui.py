""":Orchflow agent worktree / agent remove from a real Neovim, through a real sidecar
orchestrator, on a real git repository and tmux server."""

from __future__ import annotations

import re
from pathlib import Path

from tests.frontend.test_orchestrator_sidecar import first_need
from tests.git.test_methods import commit_all, git, make_repo
from tests.harness.editor import Editor


def test_agent_in_a_worktree_from_neovim_and_removed_again(editor: Editor, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    (repo / ".gitignore").write_text(".env\nnode_modules\n")
    (repo / ".worktreeinclude").write_text(".env\n")
    (repo / "app.py").write_text("print(1)\n")
    commit_all(repo)
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "node_modules").mkdir()
    worktrees = tmp_path / "worktrees"
    editor.cmd("cd " + str(repo))
    editor.lua(
        "require('orchflow').setup({ orchestrator = { mode = 'sidecar' },"
        " worktree = { dir = ..., port_min = 47300, port_max = 47399,"
        " symlinks = { 'node_modules' } } })",
        str(worktrees),
    )
    editor.capture_notify()
    msg = first_need(
        editor, "Orchflow agent worktree custom sh -c 'exec cat'", r"agent \S+ \(custom\) in"
    )
    path = worktrees / "proj" / "custom-1"
    m = re.search(r"in (\S+) on (\S+) \(from (\S+)\), port (\d+)$", msg)
    assert m, msg
    assert m.groups()[:3] == (str(path), "orchflow/custom-1", "main")
    assert 47300 <= int(m.group(4)) <= 47399
    assert (path / ".env").read_text() == "SECRET=1\n"
    assert (path / "node_modules").is_symlink()  # setup({ worktree = { symlinks } }) arrived
    assert "orchflow/custom-1" in git(repo, "branch").decode()
    editor.cmd("Orchflow agent remove custom-1")
    msg = editor.wait_notify(r"worktree removed", timeout=15)
    assert msg.endswith("branch orchflow/custom-1 deleted")
    assert not path.exists() and "orchflow/custom-1" not in git(repo, "branch").decode()
    editor.cmd("Orchflow agent cleanup")
    assert editor.wait_notify(r"orphan", timeout=15) == "orchflow: no orphan worktrees"
