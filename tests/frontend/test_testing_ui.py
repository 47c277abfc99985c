""":Orchflow test from a real headless Neovim against a real tmux server and real pytest:
nearest, file, failed, last, watch; failures in the quickfix list and as diagnostics at the
failing line; a summary notification and the quickfix window on the screen."""

from __future__ import annotations

from pathlib import Path

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer
from tests.testing.helpers import PYTEST_SUITE, write

RUN_S = 60  # an upper bound for a tiny suite in a fresh pane, never an expectation


def qf(editor: Editor) -> list[tuple[str, int, str]]:
    return [
        tuple(x)
        for x in editor.lua(
            "return vim.tbl_map(function(i) return { vim.fn.fnamemodify(vim.fn.bufname(i.bufnr),"
            " ':t'), i.lnum, i.text } end, vim.fn.getqflist())"
        )
    ]


def diagnostics(editor: Editor) -> list[tuple[int, str]]:
    return [
        tuple(x)
        for x in editor.lua(
            "local ns = require('orchflow.testing').ns return vim.tbl_map(function(d) return"
            " { d.lnum + 1, d.message } end, vim.diagnostic.get(0, { namespace = ns }))"
        )
    ]


def test_nearest_file_failed_and_the_quickfix_list(
    editor: Editor, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    root = write(tmp_path / "suite", PYTEST_SUITE)
    editor.cmd(f"cd {root}")
    editor.cmd(f"edit {root / 'test_mixed.py'}")
    editor.capture_notify()
    editor.lua("vim.api.nvim_win_set_cursor(0, { 11, 0 })")  # inside test_fails
    editor.cmd("Orchflow test nearest")
    msg = editor.wait_notify(r"✗ 1 failed", timeout=RUN_S)
    assert "test_mixed.py::test_fails" in msg and "pytest" in msg
    assert qf(editor) == [("test_mixed.py", 11, "test_fails: AssertionError: the answer")]
    assert diagnostics(editor) == [(11, "test_fails: AssertionError: the answer")]
    # the whole file: three failures, each at its own line
    editor.capture_notify()
    editor.cmd("Orchflow test file")
    msg = editor.wait_notify(r"✗ 3 failed, 5 passed, 2 skipped", timeout=RUN_S)
    assert sorted(line for _, line, _ in qf(editor)) == [11, 26, 34]
    assert sorted(line for line, _ in diagnostics(editor)) == [11, 26, 34]
    # the quickfix window shows them on the screen
    editor.cmd("copen")
    editor.wait_until(lambda: "test_in_class_fails" in editor.screen_text(), timeout=5)
    editor.cmd("cclose")
    # only the failed ones
    editor.capture_notify()
    editor.cmd("Orchflow test failed")
    msg = editor.wait_notify(r"test ✗ 3 failed \(pytest 3 tests", timeout=RUN_S)
    assert "passed" not in msg
    # fix one and run the last run again: two failures left, the diagnostics follow
    text = (root / "test_mixed.py").read_text(encoding="utf-8").replace("x == 42", "x == 41")
    (root / "test_mixed.py").write_text(text, encoding="utf-8")
    editor.capture_notify()
    editor.cmd("Orchflow test last")
    editor.wait_notify(r"test ✗ 2 failed", timeout=RUN_S)
    assert sorted(line for line, _ in diagnostics(editor)) == [26, 34]
    editor.assert_not_blocked()


def test_watch_reruns_the_saved_test_file(
    editor: Editor, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    root = write(
        tmp_path / "suite",
        {"pytest.ini": "[pytest]\n", "test_w.py": "def test_w():\n    assert 1 == 2\n"},
    )
    editor.cmd(f"cd {root}")
    editor.cmd(f"edit {root / 'test_w.py'}")
    editor.capture_notify()
    editor.cmd("Orchflow test watch")
    editor.wait_notify(r"test watch on", timeout=10)
    # three saves in a row: one run (debounced)
    editor.lua("vim.api.nvim_buf_set_lines(0, 1, 2, false, { '    assert 1 == 1' })")
    for _ in range(3):
        editor.cmd("write")
    msg = editor.wait_notify(r"test ✓ 1 passed", timeout=RUN_S)
    assert "test_w.py" in msg
    assert diagnostics(editor) == [] and qf(editor) == []
    editor.lua("vim.api.nvim_buf_set_lines(0, 1, 2, false, { '    assert 1 == 3' })")
    editor.cmd("write")
    editor.wait_notify(r"test ✗ 1 failed", timeout=RUN_S)
    assert diagnostics(editor) == [(2, "test_w: assert 1 == 3")]
    runs = [m for m, _ in editor.notifications() if "test ✓" in m or "test ✗" in m]
    assert len(runs) == 2, runs  # the three quick saves made one run
    editor.cmd("Orchflow test watch")
    editor.wait_notify(r"test watch off", timeout=10)
    assert not editor.lua("return require('orchflow.testing').watching()")


def test_outside_a_file_is_a_clear_error(editor: Editor, private_tmux: TmuxServer) -> None:
    editor.capture_notify()
    editor.cmd("enew")
    editor.cmd("Orchflow test nearest")
    editor.wait_notify(r"this buffer is not a file on disk", timeout=10)


def test_a_suite_killed_mid_run_says_so_with_what_ran(
    editor: Editor, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    root = write(
        tmp_path / "killed",
        {
            "pytest.ini": "[pytest]\n",
            "test_k.py": "import os, signal\n\ndef test_a():\n    pass\n\n"
            "def test_b():\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        },
    )
    editor.cmd(f"cd {root}")
    editor.capture_notify()
    editor.cmd("Orchflow test all")
    msg = editor.wait_notify(r"test ☠ 1 passed", timeout=RUN_S)
    assert "pytest was killed (exit code 137) before it finished" in msg
