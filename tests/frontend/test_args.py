"""Free text in :Orchflow commands arrives as typed (lua/orchflow/args.lua).

A raw-mode reader in a real tmux pane (`stty raw -echo; head -c N > FILE`) records the
bytes it receives: no line discipline in between, so what the file holds is exactly what
orchflow typed.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.frontend.test_panes import new_pane
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer

# double spaces, a tab, backslashes, quotes, ;, $(…), backticks, a leading -, Unicode, a |
NASTY = "-n  two  spaces\ttab \\\\ back\\slash 'sq' \"dq\" ; $(echo no) `id` | ünïcödé ✓  "


def test_split_takes_leading_words_and_keeps_the_rest_untouched(editor: Editor) -> None:
    split = "return { require('orchflow.args').split(...) }"
    assert editor.lua(split, "%1  a  b\\\\c\t", 1) == [["%1"], " a  b\\\\c\t"]
    assert editor.lua(split, "  pane send %3 x", 3) == [["pane", "send", "%3"], "x"]
    assert editor.lua(split, "pane\tsend", 3) == [["pane", "send"], ""]
    assert editor.lua(split, "", 1) == [[], ""]


def raw_reader(editor: Editor, tmux: TmuxServer, out: Path, nbytes: int) -> str:
    """A pane whose program reads ``nbytes`` in raw mode into ``out``; returns its id once
    the terminal is raw (it prints "ready" after stty)."""
    pane = new_pane(
        editor, f"custom sh -c 'stty raw -echo; printf ready; head -c {nbytes} > {out}'"
    )
    editor.wait_until(lambda: "ready" in tmux.run("capture-pane", "-p", "-t", pane), timeout=10)
    return pane


def test_pane_send_types_the_raw_text_then_enter_as_cr(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    out = tmp_path / "received"
    expected = NASTY.encode() + b"\r"  # Enter is a key press: CR, not a typed line feed
    pane = raw_reader(editor, private_tmux, out, len(expected))
    editor.capture_notify()
    editor.cmd(f"Orchflow pane send {pane} {NASTY}")
    editor.wait_until(lambda: out.exists() and len(out.read_bytes()) >= len(expected), timeout=10)
    assert out.read_bytes() == expected
    assert not [m for m, level in editor.notifications() if level >= 4]


def test_pane_new_passes_its_command_untouched(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    out = tmp_path / "argv"
    new_pane(editor, f"custom printf '%s|' 'a  b' 'c\\\\d' \"e\tf\" > {out}")
    editor.wait_until(lambda: out.exists() and out.read_text(), timeout=10)
    assert out.read_text() == "a  b|c\\\\d|e\tf|"


def test_pane_run_passes_the_command_untouched(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    pane = new_pane(editor, "shell")
    # (no tab: the line is typed into an interactive shell, where a tab completes)
    editor.cmd(f"Orchflow pane run {pane} printf '%s|' 'x  y' 'z\\\\w' \"-\" > {out}")
    editor.wait_until(lambda: out.exists() and out.read_text(), timeout=10)
    assert out.read_text() == "x  y|z\\\\w|-|"
    # the history records it as typed too
    editor.wait_until(
        lambda: any(
            re.search(r"x  y", c["command"])
            for c in editor.lua("return require('orchflow.host').wait('history.top', {})")
        )
    )
