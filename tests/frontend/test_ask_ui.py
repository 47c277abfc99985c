""":Orchflow ask in a real headless Neovim: the host's ai.route on a real project, the
float on the screen, <CR> running the command in a real tmux pane, `e` editing it first
(vim.ui.input answered by a scripted function: a headless Neovim has no one to type),
`x` rejecting; each choice is ai.feedback in the real state database, so three edits make
the router answer the edited command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


@pytest.fixture
def ed(editor: Editor, tmp_path: Path) -> Editor:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Makefile").write_text("test:\n\techo ask-$$((6*7))\n\nbuild:\n\ttrue\n")
    editor.cmd("cd " + str(project))
    editor.capture_notify()
    return editor


def ask_float(editor: Editor) -> dict[str, Any] | None:
    return next((f for f in editor.floats() if f["title"] and "orchflow ask" in f["title"]), None)


def pane_output(tmux: TmuxServer) -> str:
    panes = tmux.run("list-panes", "-a", "-F", "#{pane_id}", check=False).split()
    return "".join(tmux.run("capture-pane", "-p", "-t", p) for p in panes)


def answer_input(editor: Editor, text: str) -> None:
    editor.lua(
        """local text = ...
        vim.ui.input = function(opts, cb)
          _G.__input_default = opts.default
          cb(text)
        end""",
        text,
    )


def test_float_shows_the_route_and_enter_runs_it_in_a_pane(
    ed: Editor, private_tmux: TmuxServer
) -> None:
    ed.cmd("Orchflow ask please run the tests")
    f = ed.wait_until(lambda: ask_float(ed), timeout=10)
    text = "\n".join(f["lines"])
    assert "Agent       test" in text
    assert "Command     make test" in text
    assert "Confidence  0." in text
    assert "Reason      lexicon: test" in text
    screen = ed.screen_text()
    assert "orchflow ask" in screen and "<CR> run" in screen and "make test" in screen
    ed.nv.input("<CR>")
    ed.wait_until(lambda: "ask-42" in pane_output(private_tmux), timeout=15)
    ed.wait_notify(r"running make test in %\d+ \[test\]", timeout=10)
    assert ask_float(ed) is None


def test_three_edits_teach_the_router(ed: Editor, private_tmux: TmuxServer) -> None:
    answer_input(ed, "echo edited-$((6*7))")
    for _ in range(3):
        ed.cmd("Orchflow ask check the thing")
        ed.wait_until(lambda: ask_float(ed), timeout=10)
        ed.nv.input("e")
        ed.wait_until(lambda: ask_float(ed) is None)
    ed.wait_until(lambda: "edited-42" in pane_output(private_tmux), timeout=15)
    assert ed.lua("return _G.__input_default") is not None

    def learned() -> bool:
        ed.nv.input("<Esc>")
        ed.cmd("Orchflow ask check the thing")
        f = ed.wait_until(lambda: ask_float(ed), timeout=10)
        return "Command     echo edited-$((6*7))" in "\n".join(f["lines"])

    ed.wait_until(learned, timeout=10)
    assert "learned: this phrasing" in "\n".join(ask_float(ed)["lines"])  # type: ignore[index]


def test_reject_and_nothing_to_run(ed: Editor) -> None:
    ed.cmd("Orchflow ask order me a pizza")
    f = ed.wait_until(lambda: ask_float(ed), timeout=10)
    assert "Agent       none (nothing fits)" in "\n".join(f["lines"])
    ed.nv.input("<CR>")
    ed.wait_notify("nothing to run; e gives one")
    ed.nv.input("x")
    ed.wait_notify(r"ask: rejected")
    assert ask_float(ed) is None


def test_bad_input_is_reported(ed: Editor) -> None:
    ed.lua("vim.ui.input = function(_, cb) cb('') end")
    ed.cmd("Orchflow ask")
    ed.wait_notify("ask needs a request")
    ed.lua("vim.cmd('Orchflow ask ' .. string.rep('x', 3000))")
    ed.wait_notify("3000 characters")
