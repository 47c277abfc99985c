""":Orchflow history in a real headless Neovim: real SQLite history, real tmux panes.

Entries come from history.add (the host method) and from commands really run in a tmux
pane. vim.ui.select is answered by a scripted function (a headless Neovim has no one to
pick from its inputlist); the re-run lands in the real pane and is checked there.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


@pytest.fixture
def ed(editor: Editor, tmp_path: Path) -> Editor:
    project = tmp_path / "proj"
    project.mkdir()
    editor.cmd("cd " + str(project))
    editor.capture_notify()
    # The host opens the history database in the background of its first call (init);
    # a call racing it answers "not open" (reported to the lead), so wait for it here.
    editor.wait_until(
        lambda: editor.lua("return pcall(require('orchflow.host').wait, 'history.top', {}, 5000)"),
        timeout=10,
    )
    now = time.time()
    for command, code, age_s in [
        ("make test", 0, 60),
        ("make test", 0, 30),
        ("make test", 0, 10),
        ("git status", 0, 3600),
        ("cargo build --release", 101, 120),
    ]:
        editor.lua(
            "require('orchflow.host').wait('history.add', ..., 5000)",
            {
                "command": command,
                "exit_code": code,
                "ts": now - age_s,
                "duration_s": 1.5,
                "cwd": str(project),
            },
        )
    return editor


def answer_select(editor: Editor, pick: str) -> None:
    """The user's choice for the next vim.ui.select: the item whose label contains `pick`."""
    editor.lua(
        """local pick = ...
        _G.__select_labels = {}
        vim.ui.select = function(items, opts, cb)
          for i, item in ipairs(items) do
            local label = opts.format_item and opts.format_item(item) or item
            table.insert(_G.__select_labels, label)
          end
          for i, item in ipairs(items) do
            local label = opts.format_item and opts.format_item(item) or item
            if label:find(pick, 1, true) then return cb(item, i) end
          end
          cb(nil, nil)
        end""",
        pick,
    )


def results(editor: Editor) -> dict[str, Any] | None:
    for f in editor.floats():
        if f["title"] and re.search(r"by frecency|matches", f["title"]):
            return f
    return None


def rows(editor: Editor) -> list[str]:
    f = results(editor)
    return [line for line in f["lines"] if line] if f else []


def commands(editor: Editor) -> list[str]:
    return [re.sub(r"^.*ago\s+", "", row) for row in rows(editor)]


def test_top_by_frecency_with_status_runs_and_age(ed: Editor) -> None:
    ed.cmd("Orchflow history")
    ed.wait_until(lambda: len(rows(ed)) == 3)
    assert commands(ed) == ["make test", "git status", "cargo build --release"]
    make, git, cargo = rows(ed)
    # 10 s old when written; a second or two may pass before the picker draws it
    assert re.match(r"^✓ 0\s+\u00d73\s+1[0-2]s ago\s+make test$", make), make
    assert re.match(r"^✗ 101 \u00d71\s+2m ago\s+cargo build --release$", cargo), cargo
    assert re.match(r"^✓ 0\s+\u00d71\s+1h ago\s+git status$", git), git
    screen = ed.screen_text()
    assert "history" in screen and "<CR> run in a pane" in screen


def test_typing_filters_with_the_hosts_fuzzy_search(ed: Editor) -> None:
    ed.cmd("Orchflow history")
    ed.wait_until(lambda: len(rows(ed)) == 3)
    ed.nv.input("gst")
    ed.wait_until(lambda: commands(ed) == ["git status"])
    ed.nv.input("<BS><BS><BS>cargo")
    ed.wait_until(lambda: commands(ed)[:1] == ["cargo build --release"])
    ed.nv.input("<BS><BS><BS><BS><BS>")
    ed.wait_until(lambda: commands(ed) == ["make test", "git status", "cargo build --release"])


def capture(tmux: TmuxServer, pane: str) -> str:
    return tmux.run("capture-pane", "-p", "-t", pane)


def test_enter_reruns_in_the_chosen_pane(ed: Editor, private_tmux: TmuxServer) -> None:
    ed.cmd("Orchflow pane new shell")
    msg = ed.wait_notify(r"pane %\d+ .* created|orchflow: ", timeout=10)
    pane = re.search(r"(%\d+)", msg)
    assert pane, msg
    pane_id = pane.group(1)
    ed.lua(
        "require('orchflow.host').wait('history.add', ..., 5000)",
        {"command": "echo rerun-$((6*7))", "exit_code": 0},
    )
    answer_select(ed, pane_id)
    ed.cmd("Orchflow history")
    ed.nv.input("rerun")
    ed.wait_until(lambda: commands(ed)[:1] == ["echo rerun-$((6*7))"])
    ed.nv.input("<CR>")
    ed.wait_until(lambda: "rerun-42" in capture(private_tmux, pane_id), timeout=10)
    labels = ed.lua("return _G.__select_labels")
    assert any(pane_id in label for label in labels) and labels[-1] == "a new shell pane"

    # the run through the pane is recorded: the command now has two runs
    def runs() -> int:
        top = ed.lua("return require('orchflow.host').wait('history.top', { n = 10 }, 5000)")
        return next(r["runs"] for r in top if r["command"] == "echo rerun-$((6*7))")

    ed.wait_until(lambda: runs() == 2, timeout=10)


def test_enter_without_panes_runs_in_a_new_one(ed: Editor, private_tmux: TmuxServer) -> None:
    ed.cmd("Orchflow history")
    ed.wait_until(lambda: len(rows(ed)) == 3)
    ed.lua(
        "require('orchflow.host').wait('history.add', ..., 5000)",
        {"command": "echo fresh-$((7*6))", "exit_code": 0},
    )
    ed.nv.input("<Esc>")
    ed.cmd("Orchflow history")
    ed.nv.input("fresh<CR>")

    def pane_output() -> str:
        panes = private_tmux.run("list-panes", "-a", "-F", "#{pane_id}", check=False).split()
        return "".join(capture(private_tmux, p) for p in panes)

    ed.wait_until(lambda: "fresh-42" in pane_output(), timeout=10)


def test_closing_is_quiet(ed: Editor) -> None:
    ed.cmd("Orchflow history")
    ed.wait_until(lambda: len(rows(ed)) == 3)
    ed.nv.input("<Esc>")
    ed.wait_until(lambda: not ed.floats(), timeout=3)
    assert not [m for m, level in ed.notifications() if level >= 3]


def test_import_export_prune_commands(editor: Editor, tmp_path: Path) -> None:
    hist = tmp_path / "bash_history"
    hist.write_text("#1700000000\nmake build\n#1700000001\ngit status\n#not-a-time\n")
    editor.capture_notify()
    editor.cmd(f"Orchflow history import {hist} bash")
    msg = editor.wait_notify("imported", timeout=10)
    assert "imported 2 command(s) from bash history" in msg
    out = tmp_path / "export.json"
    editor.cmd(f"Orchflow history export {out}")
    editor.wait_notify("exported 2 command", timeout=10)
    assert "make build" in out.read_text()
    editor.cmd("Orchflow history prune 1")
    editor.wait_notify(r"removed 2 history entries older than 1 days", timeout=10)
    editor.cmd("Orchflow history bogus")
    assert "valid: import, export, prune" in editor.wait_notify("unknown history action")


def test_pane_run_completes_from_history(editor: Editor) -> None:
    editor.cmd("Orchflow version")  # start the host
    editor.lua(
        "require('orchflow.host').wait('history.add', "
        "{ command = 'pytest -x tests', exit_code = 0 }, 5000)"
    )
    got = editor.lua("return require('orchflow.terminal').complete_run('py', { '%1' })")
    assert got == ["pytest"]
    got = editor.lua("return require('orchflow.terminal').complete_run('-', { '%1', 'pytest' })")
    assert got == ["-x"]
