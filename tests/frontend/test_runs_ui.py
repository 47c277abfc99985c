"""Runs from Neovim: the notification when a run ends and :Orchflow run list, against a
real tmux server and real bash with orchflow's shell integration."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.frontend.test_panes import new_pane, wait_float
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def integrated_bash(isolated: Path) -> None:
    """config.toml: a tmux config with bash as the default shell and no default-command,
    so panes start with shell integration (HOME is a fresh dir: no user rc files)."""
    home = isolated / "user-home"
    home.mkdir()
    (home / ".bash_profile").write_text("PS1='$ '\n")
    conf = isolated / "tmux-integrated.conf"
    conf.write_text(
        f"set -g default-shell {shutil.which('bash')}\n"
        f'set-environment -g HOME "{home}"\nset -g status off\n'
    )
    (isolated / "config" / "orchflow" / "config.toml").write_text(
        f'[tmux]\nconfig_file = "{conf}"\n'
    )


def count_finished(editor: Editor) -> None:
    """_G.__finished counts the run.finished events Neovim gets (User autocmds)."""
    editor.lua(
        "_G.__finished = 0 vim.api.nvim_create_autocmd('User', { pattern = 'Orchflow:run.finished',"
        " callback = function() _G.__finished = _G.__finished + 1 end })"
    )


def test_a_failed_run_notifies_and_the_run_list_shows_it(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    integrated_bash(isolated)
    pane = new_pane(editor, "shell")
    editor.capture_notify()
    editor.cmd(f"Orchflow pane run {pane} sleep 0.2; false")
    msg = editor.wait_notify(r"✗ 1", timeout=15)
    assert "sleep 0.2; false" in msg and "shell" in msg
    # typed by hand in the pane: a run too, with its exit code
    count_finished(editor)
    private_tmux.run("send-keys", "-t", pane, "(exit 4)", "Enter")
    private_tmux.run("send-keys", "-t", pane, "true", "Enter")
    try:
        editor.wait_until(lambda: editor.lua("return _G.__finished") >= 2, timeout=15)
    except AssertionError:
        raise AssertionError(private_tmux.run("capture-pane", "-p", "-t", pane)) from None
    editor.cmd("Orchflow run list")
    lines = wait_float(editor, "orchflow runs", r"✓ 0 .* typed .* true$", timeout=15)
    assert any(row.startswith("✗ 4") and "typed" in row for row in lines), lines
    assert any(row.startswith("✗ 1") and " run " in row and row.endswith("false") for row in lines)
    # the pane did not see a wrapper: the command as typed, once
    screen = private_tmux.run("capture-pane", "-p", "-t", pane)
    assert "trap" not in screen and screen.count("sleep 0.2; false") == 1


def test_runs_notify_never_stays_quiet(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    integrated_bash(isolated)
    editor.lua("require('orchflow').setup({ runs = { notify = 'never' } })")
    pane = new_pane(editor, "shell")
    editor.capture_notify()
    count_finished(editor)
    editor.cmd(f"Orchflow pane run {pane} false")
    editor.wait_until(lambda: editor.lua("return _G.__finished") >= 1, timeout=15)
    editor.cmd("Orchflow run list")
    wait_float(editor, "orchflow runs", r"✗ 1 .* false$", timeout=15)
    assert not [m for m, _ in editor.notifications() if "✗" in m]
