""":Orchflow template … in a real headless Neovim, against a private tmux server."""

from __future__ import annotations

from pathlib import Path

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer

DATA = Path(__file__).parents[1] / "templates" / "data"


def test_template_commands_import_apply_reconcile_freeze(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    editor.capture_notify()
    editor.cmd(f"Orchflow template import {DATA / 'project.yaml'} proj")
    editor.wait_notify("template proj imported", timeout=15)
    editor.cmd("Orchflow template list")
    assert "proj  4 window(s), 7 pane(s)" in editor.wait_notify("orchflow templates in")
    editor.cmd("Orchflow template apply proj")
    editor.wait_notify("created 4 window", timeout=15)
    panes = private_tmux.run("list-panes", "-s", "-t", "=tpl-project:", "-F", "#{pane_id}").split()
    assert len(panes) == 7
    editor.cmd("Orchflow template apply proj")
    editor.wait_notify("created 0 window.*7 pane\\(s\\) already there", timeout=15)
    again = private_tmux.run("list-panes", "-s", "-t", "=tpl-project:", "-F", "#{pane_id}")
    assert again.split() == panes
    out = tmp_path / "frozen.yaml"
    editor.cmd(f"Orchflow template freeze tpl-project {out}")
    editor.wait_notify("tmuxp load reads it", timeout=15)
    assert "window_name: editor" in out.read_text()
    editor.cmd(f"Orchflow template apply {DATA / 'unknown-key.yaml'}")
    assert "layuot" in editor.wait_notify("unknown key", timeout=15)
    editor.assert_not_blocked()
