"""The dashboard and the pane model behind it (lua/orchflow/dashboard.lua, panes.lua):
events are applied, not answered by re-listing; the last line is read at most once
a second, for panes on screen that printed, while the dashboard is open."""

from __future__ import annotations

import re
import time

from tests.frontend.test_panes import float_lines, last_screen_line, new_pane, wait_float
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def count_calls(editor: Editor) -> None:
    """Record every host.call method name in _G.__calls."""
    editor.lua(
        """_G.__calls = {}
        local host = require('orchflow.host')
        local call = host.call
        host.call = function(method, ...)
          _G.__calls[method] = (_G.__calls[method] or 0) + 1
          return call(method, ...)
        end"""
    )


def calls(editor: Editor, method: str) -> int:
    return int(editor.lua("return (_G.__calls or {})[...] or 0", method))


def test_the_dashboard_applies_events_instead_of_re_listing(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    # shell panes: a typed pane without a command would run this repository's own command
    first = new_pane(editor, "shell")
    count_calls(editor)
    editor.cmd("Orchflow pane list")
    wait_float(editor, "orchflow", re.escape(first))
    # a pane made, renamed session, a command's state: all from the events' payloads
    second = new_pane(editor, "shell")
    wait_float(editor, "orchflow", re.escape(second) + r" +shell +wrap +idle")
    editor.cmd(f"Orchflow pane run {second} sh -c 'exit 4'")
    wait_float(editor, "orchflow", re.escape(second) + r" +shell +wrap +idle 4")
    editor.cmd("Orchflow session rename orchflow renamed")
    wait_float(editor, "orchflow", r"^● renamed  \(current\)")
    editor.cmd(f"Orchflow pane close {first}")
    editor.wait_until(lambda: not any(first in line for line in float_lines(editor, "orchflow")))
    assert calls(editor, "session.list") == 1  # the one on open


def test_a_busy_pane_updates_its_last_line_at_most_once_a_second(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    pane = new_pane(editor, "shell")
    count_calls(editor)
    editor.cmd("Orchflow pane list")
    wait_float(editor, "orchflow", re.escape(pane))
    loop = "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo n$i; sleep 0.01; done"
    editor.cmd(f"Orchflow pane send {pane} {loop}")
    t0 = time.monotonic()
    wait_float(editor, "orchflow", re.escape(pane) + r".* n\d+$")
    time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    asked = calls(editor, "pane.last_lines")
    assert 1 <= asked <= elapsed + 1.5, (asked, elapsed)
    assert calls(editor, "session.list") == 1
    # the end shows too: the pane's last line once the loop is over (its prompt)
    editor.wait_until(lambda: "n300" in private_tmux.run("capture-pane", "-p", "-t", pane))
    time.sleep(0.2)
    wait_float(editor, "orchflow", re.escape(last_screen_line(private_tmux, pane)) + "$")
    # closed: no more asking, however much the pane prints
    editor.nv.input("q")
    editor.wait_until(lambda: editor.floats() == [])
    before = calls(editor, "pane.last_lines")
    editor.cmd(
        f"Orchflow pane send {pane} for i in 1 2 3 4 5 6 7 8 9; do echo m$i; sleep 0.1; done"
    )
    time.sleep(1.5)
    assert calls(editor, "pane.last_lines") == before
    assert calls(editor, "session.list") == 1


def test_whole_records_flow_through_and_finished_events_apply(editor: Editor) -> None:
    """Fields the host adds to a pane record (meta, owner ...) reach the model as they are;
    command.finished and run.finished update exit code and last command alike."""
    result = editor.lua(
        """local panes = require('orchflow.panes')
        panes.seed_panes({})
        local rec = { id = 'o1', pane_id = '%7', session = 's', name = 'a', type = 'shell',
          cwd = '/', command = '', state = 'idle', exit_code = vim.NIL, last_command = vim.NIL,
          meta = { role = 'reviewer' }, owner = 'agent-1' }
        panes.apply('pane.created', rec)
        panes.apply('pane.state', vim.tbl_extend('force', rec, { state = 'running' }))
        local running = vim.deepcopy(panes.find('%7'))
        panes.apply('command.finished', { pane = '%7', command = 'make', exit_code = 2 })
        local after_command = vim.deepcopy(panes.find('%7'))
        panes.apply('run.finished', { pane_id = '%7', command = 'make test', exit_code = 0 })
        local after_run = vim.deepcopy(panes.find('%7'))
        panes.apply('pane.closed', rec)
        return { running, after_command, after_run, #panes.list(), panes.sessions()[1].name }"""
    )
    running, after_command, after_run, left, session = result
    assert running["state"] == "running"
    assert running["meta"] == {"role": "reviewer"} and running["owner"] == "agent-1"
    assert after_command["exit_code"] == 2 and after_command["last_command"] == "make"
    assert after_run["exit_code"] == 0 and after_run["last_command"] == "make test"
    assert left == 0 and session == "s"
