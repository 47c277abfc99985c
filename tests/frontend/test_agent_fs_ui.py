"""ACP agents' fs/* through Neovim's buffers: a real headless Neovim, its host, the sidecar
orchestrator it starts and the scripted ACP agent (a stand-in for a paid model:
tests/orchestrator/acp/scripted_agent.py) that reads and writes files and says what it
read."""

from __future__ import annotations

import os
from pathlib import Path

from tests.frontend.test_ai_agents_ui import ai_editor
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def _output(ed: Editor, name: str) -> str:
    return str(
        ed.lua(
            """
            local name = ...
            _G.outs = _G.outs or {}
            require('orchflow.host').call('agent.output', { id = name }, function(err, res)
              _G.outs[name] = res and res.text or ''
            end)
            return _G.outs[name] or ''
            """,
            name,
        )
    )


def _prompt(ed: Editor, name: str, text: str, expect: str) -> str:
    """Prompt the agent and wait until its transcript says ``expect``."""
    before = _output(ed, name).count(expect)
    ed.lua(
        "require('orchflow.host').call('agent.prompt', { id = ..., text = select(2, ...) })",
        name,
        text,
    )
    return ed.wait_until(
        lambda: (out := _output(ed, name)).count(expect) > before and out, timeout=20
    )


def _start(ed: Editor) -> None:
    ed.cmd("Orchflow agent new ai scripted")
    ed.wait_notify(r"agent scripted-1 \(scripted, acp\) starting", timeout=20)
    ed.wait_until(lambda: _idle(ed), timeout=20)


def _idle(ed: Editor) -> bool:
    state = ed.lua(
        """
        _G.st = nil
        require('orchflow.host').call('agent.get', { id = 'scripted-1' }, function(err, a)
          _G.st = a and a.state or nil
        end)
        vim.wait(1000, function() return _G.st ~= nil end, 5)
        return _G.st
        """
    )
    return bool(state == "idle")


def test_agent_reads_unsaved_buffer_and_its_write_lands_in_the_buffer_undoably(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = ai_editor(editor, isolated)
    work = Path(os.path.realpath(isolated / "work"))
    loaded = work / "loaded.txt"
    loaded.write_text("saved on disk\n")
    ed.cmd("edit " + str(loaded))
    ed.nv.input("ccunsaved edit<Esc>")  # the user's edit, not saved
    ed.wait_until(lambda: ed.lua("return vim.bo.modified"))
    _start(ed)

    out = _prompt(ed, "scripted-1", f"read: {loaded}", "read=")
    assert "read=unsaved edit\n" in out  # the buffer, not the disk
    assert loaded.read_text() == "saved on disk\n"

    _prompt(ed, "scripted-1", f"write: {loaded} agent line 1\\nagent line 2\\n", "write=ok")
    lines = ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    assert lines == ["agent line 1", "agent line 2"]
    assert loaded.read_text() == "agent line 1\nagent line 2\n"  # written: not left modified
    assert ed.lua("return vim.bo.modified") is False
    assert "(Neovim buffer, saved)" in _output(ed, "scripted-1")
    ed.nv.input("Goagent line 3 (unsaved)<Esc>")
    out = _prompt(ed, "scripted-1", f"readlines: {loaded} 3 1", "(unsaved)\n-- turn")
    assert "\nread=agent line 3 (unsaved)\n-- turn" in out  # line and limit: on the buffer
    ed.nv.input("u")

    ed.nv.input("u")  # one undo step brings the user's text back
    ed.wait_until(
        lambda: ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)") == ["unsaved edit"]
    )
    assert ed.lua("return vim.bo.modified") is True
    ed.nv.input("u")  # and the next one the text it had on disk
    ed.wait_until(
        lambda: ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)") == ["saved on disk"]
    )


def test_a_file_not_loaded_is_read_from_and_written_to_disk(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = ai_editor(editor, isolated)
    work = Path(os.path.realpath(isolated / "work"))
    other = work / "other.txt"
    other.write_text("only on disk\n")
    ed.cmd("edit " + str(work / "loaded.txt"))  # a different file is loaded
    _start(ed)

    out = _prompt(ed, "scripted-1", f"read: {other}", "read=")
    assert "read=only on disk\n" in out
    _prompt(ed, "scripted-1", f"write: {other} new text\\n", "write=ok")
    assert other.read_text() == "new text\n"
    assert ed.lua("return vim.fn.bufloaded(...)", str(other)) == 0  # not opened for it
    assert f"[wrote] {other}\n" in _output(ed, "scripted-1")


def test_a_path_outside_the_cwd_stays_refused_even_when_loaded(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = ai_editor(editor, isolated)
    outside = Path(os.path.realpath(isolated)) / "outside.txt"
    outside.write_text("secret\n")
    ed.cmd("edit " + str(outside))
    ed.nv.input("ccchanged<Esc>")
    _start(ed)
    out = _prompt(ed, "scripted-1", f"read: {outside}", "read-error=")
    assert "outside the agent's working directory" in out and "changed" not in out
    _prompt(ed, "scripted-1", f"write: {outside} x", "write-error=")
    assert ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)") == ["changed"]
    assert outside.read_text() == "secret\n"
