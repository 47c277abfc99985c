"""The pane output float (lua/orchflow/output.lua): it says when its stream ends."""

from __future__ import annotations

from tests.frontend.test_panes import float_lines, new_pane
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def test_output_float_stays_and_says_when_the_pane_closes(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    pane = new_pane(editor, "shell")
    editor.cmd(f"Orchflow pane output {pane}")
    editor.wait_until(lambda: float_lines(editor, "output") or None)
    editor.cmd(f"Orchflow pane close {pane}")
    lines = editor.wait_until(
        lambda: (
            (ls := float_lines(editor, "output")) and any("[stream ended" in x for x in ls) and ls
        ),
        timeout=10,
    )
    assert any(x.startswith("[stream ended: ") for x in lines), lines
    assert editor.lua("return vim.tbl_count(require('orchflow.output').views())") == 0
