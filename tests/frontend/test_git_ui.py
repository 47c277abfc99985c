""":Orchflow git in a real headless Neovim over a real git repository: the status float
grouped by staged/unstaged/untracked, a file's hunks, staging and unstaging a file and a
hunk (checked byte for byte in git's index), commit, diff, and the errors.

vim.ui.input is answered by a scripted function (a headless Neovim has no one to type the
commit message into a prompt); everything else is real.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.frontend.test_panes import float_lines, wait_float
from tests.git.test_methods import LINES, commit_all, git, index_bytes, make_repo
from tests.harness.editor import Editor

TITLE = "orchflow git"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo")
    (root / "a.txt").write_bytes(b"".join(LINES))
    (root / "gone.txt").write_text("bye\n")
    commit_all(root)
    return root


@pytest.fixture
def ed(editor: Editor, repo: Path) -> Editor:
    editor.cmd("cd " + str(repo))
    editor.capture_notify()
    editor.lua(
        """_G.__answers = {}
        vim.ui.input = function(opts, cb) cb(table.remove(_G.__answers, 1)) end"""
    )
    return editor


def cursor_to(editor: Editor, pattern: str, after: str | None = None) -> None:
    """Put the cursor of the git float on the first line matching ``pattern`` (after the
    line matching ``after``, when given)."""
    lines = float_lines(editor, TITLE)
    start = next(i for i, line in enumerate(lines) if re.search(after, line)) if after else 0
    row = next(i for i, line in enumerate(lines) if i >= start and re.search(pattern, line))
    editor.lua("vim.api.nvim_win_set_cursor(0, { ..., 0 })", row + 1)


def press(editor: Editor, keys: str) -> None:
    editor.assert_not_blocked()
    editor.nv.input(keys)


def test_status_hunks_stage_unstage_and_commit_on_the_screen(ed: Editor, repo: Path) -> None:
    edited = list(LINES)
    edited[1] = b"line 2 changed\n"
    edited[24] = b"line 25 changed\n"
    (repo / "a.txt").write_bytes(b"".join(edited))
    (repo / "new.txt").write_text("new\n")
    git(repo, "rm", "-q", "gone.txt")
    ed.cmd("Orchflow git")
    lines = wait_float(ed, TITLE, r"^Untracked \(1\)$", timeout=15)
    assert lines[0] == "On main"
    assert lines[1:] == [
        "",
        "Staged (1)",
        "  D  gone.txt",
        "",
        "Unstaged (1)",
        "  M  a.txt",
        "",
        "Untracked (1)",
        "  ?  new.txt",
    ]
    screen = ed.screen_text()
    assert "orchflow git: repo" in screen and "s stage" in screen and "Unstaged (1)" in screen

    # expand a.txt to its two hunks and stage the second one
    cursor_to(ed, r"^  M  a\.txt$")
    press(ed, "<Tab>")
    lines = wait_float(ed, TITLE, r"^     @@ -22,7 \+22,7 @@")
    assert "     -line 25" in lines and "     +line 25 changed" in lines
    cursor_to(ed, r"^     \+line 25 changed$")
    press(ed, "s")
    lines = wait_float(ed, TITLE, r"^Staged \(2\)$")
    expected = list(LINES)
    expected[24] = b"line 25 changed\n"
    assert index_bytes(repo, "a.txt") == b"".join(expected)
    assert (repo / "a.txt").read_bytes() == b"".join(edited)
    # a.txt is now in both groups; the unstaged one still shows its first hunk only
    unstaged = lines[lines.index("Unstaged (1)") :]
    assert "  M  a.txt" in lines[: lines.index("Unstaged (1)")]
    assert "     +line 2 changed" in unstaged and "     +line 25 changed" not in unstaged

    # unstage the whole of a.txt from the staged group: the index is HEAD's again
    cursor_to(ed, r"^  M  a\.txt$", after=r"^Staged")
    press(ed, "u")
    wait_float(ed, TITLE, r"^Staged \(1\)$")
    assert index_bytes(repo, "a.txt") == b"".join(LINES)

    # stage the untracked file, then commit with a message
    cursor_to(ed, r"^  \?  new\.txt$")
    press(ed, "s")
    wait_float(ed, TITLE, r"^Untracked \(0\)$")
    ed.lua("table.insert(_G.__answers, 'Add new.txt, drop gone.txt')")
    press(ed, "c")
    msg = ed.wait_notify(r"committed [0-9a-f]{7}", timeout=15)
    assert msg.endswith("Add new.txt, drop gone.txt")
    lines = wait_float(ed, TITLE, r"^Staged \(0\)$")
    assert "  M  a.txt" in lines
    assert git(repo, "log", "-1", "--format=%s").decode().strip() == "Add new.txt, drop gone.txt"
    assert git(repo, "show", "--name-status", "--format=", "HEAD").decode().split() == [
        "D",
        "gone.txt",
        "A",
        "new.txt",
    ]

    # d: the diff of the file under the cursor in its own float
    cursor_to(ed, r"^  M  a\.txt$")
    press(ed, "d")
    diff = wait_float(ed, "orchflow diff: a.txt", r"^\+line 2 changed$")
    assert diff[0].startswith("@@ -1,5 +1,5 @@")
    assert ed.lua("return vim.bo.filetype") == "diff"
    assert not [m for m, level in ed.notifications() if level >= 4], ed.notifications()


def test_stale_hunk_is_refused_and_the_index_is_untouched(ed: Editor, repo: Path) -> None:
    edited = list(LINES)
    edited[1] = b"line 2 changed\n"
    (repo / "a.txt").write_bytes(b"".join(edited))
    ed.cmd("Orchflow git")
    wait_float(ed, TITLE, r"^  M  a\.txt$", timeout=15)
    cursor_to(ed, r"^  M  a\.txt$")
    press(ed, "<Tab>")
    wait_float(ed, TITLE, r"^     \+line 2 changed$")
    # the user edits the same line elsewhere after the hunk was shown
    edited[1] = b"line 2 changed again\n"
    (repo / "a.txt").write_bytes(b"".join(edited))
    cursor_to(ed, r"^     \+line 2 changed$")
    press(ed, "s")
    msg = ed.wait_notify(r"not in the unstaged diff any more", timeout=10)
    assert "nothing was applied" in msg
    assert index_bytes(repo, "a.txt") == b"".join(LINES)
    # r reads it again and shows the hunk as it is now
    press(ed, "r")
    wait_float(ed, TITLE, r"^     \+line 2 changed again$")


def test_detached_head_and_not_a_repository(ed: Editor, repo: Path, tmp_path: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD").decode().strip()
    git(repo, "checkout", "-q", "--detach", sha)
    ed.cmd("Orchflow git")
    wait_float(ed, TITLE, rf"^HEAD detached at {sha[:7]}$", timeout=15)
    press(ed, "q")
    plain = tmp_path / "plain"
    plain.mkdir()
    ed.cmd("cd " + str(plain))
    ed.cmd("Orchflow git")
    msg = ed.wait_notify(r"not in a git repository", timeout=10)
    assert str(plain) in msg and "Traceback" not in msg
    assert not [f for f in ed.floats() if f["title"] and TITLE in f["title"]]
