""":Orchflow review {agent} in a real headless Neovim, through a real sidecar orchestrator, on
a real git repository and tmux server: the file list (with another agent's overlap
flagged), a file's diff, accept and reject of a hunk on the screen (checked byte for byte
in both trees), a comment sent to the agent, and finish.

vim.ui.input and vim.ui.select are answered by scripted functions (a headless Neovim has no
one to type into a prompt); everything else is real.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.frontend.test_orchestrator_sidecar import first_need
from tests.frontend.test_panes import float_lines, wait_float
from tests.git.test_methods import commit_all, git, make_repo
from tests.harness.editor import Editor

BASE = "".join(f"line {i}\n" for i in range(1, 41))


def cursor_to(editor: Editor, title: str, pattern: str) -> None:
    lines = float_lines(editor, title)
    row = next(i for i, line in enumerate(lines) if re.search(pattern, line))
    editor.lua("vim.api.nvim_win_set_cursor(0, { ..., 0 })", row + 1)


def press(editor: Editor, keys: str) -> None:
    editor.assert_not_blocked()
    editor.nv.input(keys)


def test_review_accept_reject_comment_finish_on_the_screen(editor: Editor, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    (repo / "app.py").write_text(BASE)
    (repo / "notes.md").write_text("notes\n")
    commit_all(repo)
    editor.cmd("cd " + str(repo))
    editor.lua(
        "require('orchflow').setup({ orchestrator = { mode = 'sidecar' },"
        " worktree = { dir = ..., port_min = 47400, port_max = 47499 } })",
        str(tmp_path / "worktrees"),
    )
    editor.capture_notify()
    editor.lua(
        """_G.__answers = {}
        vim.ui.input = function(opts, cb) cb(table.remove(_G.__answers, 1)) end
        vim.ui.select = function(items, opts, cb) cb(items[1]) end"""
    )
    first_need(editor, "Orchflow agent worktree custom sh -c 'exec cat'", r"agent custom-1 \(")
    editor.cmd("Orchflow agent worktree custom sh -c 'exec cat'")
    editor.wait_notify(r"agent custom-2 \(", timeout=15)
    one = tmp_path / "worktrees" / "proj" / "custom-1"
    two = tmp_path / "worktrees" / "proj" / "custom-2"
    lines = BASE.splitlines(keepends=True)
    lines[2], lines[30] = "line 3 by agent\n", "line 31 by agent\n"
    (one / "app.py").write_text("".join(lines))
    (one / "new.txt").write_text("new file\n")
    (two / "app.py").write_text(BASE + "agent two\n")

    # the overlap shows in the agent list before any review
    editor.cmd("Orchflow agent list")
    listed = wait_float(editor, "orchflow agents", r"^  ! app\.py also changed by", timeout=15)
    assert "  ! app.py also changed by custom-2" in listed
    assert "  ! app.py also changed by custom-1" in listed
    press(editor, "q")
    editor.cmd("Orchflow review custom-1")
    title = "orchflow review: custom-1"
    shown = wait_float(editor, title, r"new\.txt", timeout=15)
    assert shown[0].startswith("custom-1 on orchflow/custom-1 (base ")
    assert shown[0].endswith("2 files changed")
    assert "! 1 file also changed by other agents: accept with care" in shown
    assert "  M  app.py  (2 hunks)  ! also changed by custom-2" in shown
    assert "  A  new.txt  (1 hunk)" in shown
    screen = editor.screen_text()
    assert "<CR> diff" in screen and "F finish" in screen

    cursor_to(editor, title, r"app\.py")
    press(editor, "<CR>")
    diff_title = "orchflow review custom-1: app.py"
    diff = wait_float(editor, diff_title, r"^@@ -28")
    assert diff[0] == "diff app.py  (modified)"
    assert "+line 3 by agent" in diff and "-line 31" in diff
    assert editor.lua("return vim.bo.filetype") == "diff"
    assert "a accept hunk" in editor.screen_text()

    # my app.py is loaded and has unsaved changes: accepting into it is refused here
    editor.lua(
        """local b = vim.fn.bufadd(...); vim.fn.bufload(b); _G.__mine = b
        vim.api.nvim_buf_set_lines(b, 0, 1, false, { 'unsaved' })""",
        str(repo / "app.py"),
    )
    cursor_to(editor, diff_title, r"^\+line 3 by agent")
    press(editor, "a")
    editor.wait_notify(r"app\.py has unsaved changes in Neovim", timeout=10)
    assert (repo / "app.py").read_text() == BASE
    editor.lua("vim.api.nvim_buf_call(_G.__mine, function() vim.cmd('edit!') end)")

    # accept the first hunk: it lands in my tree byte for byte, and my buffer reloads
    press(editor, "a")
    editor.wait_notify(r"accepted 1$", timeout=10)
    want = BASE.splitlines(keepends=True)
    want[2] = "line 3 by agent\n"
    assert (repo / "app.py").read_text() == "".join(want)
    assert editor.wait_until(
        lambda: (
            editor.lua("return vim.api.nvim_buf_get_lines(_G.__mine, 2, 3, false)[1]")
            == "line 3 by agent"
        )
    )
    # ... and u in it takes the accept back
    editor.lua("vim.api.nvim_buf_call(_G.__mine, function() vim.cmd('silent undo') end)")
    assert editor.lua("return vim.api.nvim_buf_get_lines(_G.__mine, 2, 3, false)[1]") == "line 3"
    editor.lua("vim.api.nvim_buf_call(_G.__mine, function() vim.cmd('silent redo') end)")

    # reject the second: gone from the agent's worktree
    cursor_to(editor, diff_title, r"^\+line 31 by agent")
    press(editor, "x")
    editor.wait_notify(r"rejected 1$", timeout=10)
    assert (one / "app.py").read_text() == "".join(want)

    # a comment on a line, sent to the agent as one prompt
    cursor_to(editor, diff_title, r"^\+line 3 by agent")
    editor.lua("table.insert(_G.__answers, 'say why')")
    press(editor, "c")
    editor.wait_notify(r"comment 1 on app\.py:3", timeout=10)
    # the file list shows it, unsent (the orchestrator keeps it until S, across restarts)
    listed = wait_float(editor, title, r"^  > app\.py:3: say why$", timeout=10)
    assert "1 comment not sent yet (S sends)" in listed
    press(editor, "S")
    editor.wait_notify(r"sent 1 comment to custom-1", timeout=10)
    assert editor.wait_until(
        lambda: not any(line.startswith("  > ") for line in float_lines(editor, title)),
        timeout=10,
    )
    out = editor.wait_until(
        lambda: (
            text
            if "app.py:3: say why"
            in (
                text := editor.lua(
                    "return require('orchflow.host').wait('agent.output', {id = 'custom-1'}, 3000)"
                    ".text"
                )
            )
            else None
        ),
        timeout=10,
    )
    assert "Review comments on your changes" in out

    # finish: merge (the first strategy offered), with a message
    git(repo, "checkout", "-q", "--", "app.py")  # my accepted edit: I keep the agent's instead
    editor.lua("table.insert(_G.__answers, 'Land custom-1')")
    press(editor, "F")
    msg = editor.wait_notify(r"merged into main", timeout=30)
    assert "(2 files), worktree removed" in msg
    assert git(repo, "log", "-1", "--format=%s").decode().strip() == "Land custom-1"
    assert (repo / "new.txt").read_text() == "new file\n"
    assert (repo / "app.py").read_text() == "".join(want)
    assert not one.exists()
    assert not float_lines(editor, title)
