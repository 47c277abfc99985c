"""Several Neovims on one orchestrator service: which editor serves an ACP agent's fs/*.
Two real headless Neovims (each with its host, attached as editors), one real orchestrator
process and the scripted ACP agent (a stand-in for a paid model: tests/orchestrator/acp/
scripted_agent.py) that says what it read."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.frontend.test_agent_fs_ui import _output, _prompt
from tests.frontend.test_ai_agents_ui import _state
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import agents_toml
from tests.orchestrator.server_process import OrchestratorProcess


@pytest.fixture
def service(
    isolated: Path, private_tmux: TmuxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """An orchestrator service (its discovery file where the Neovims look) and its
    project directory."""
    monkeypatch.setenv("ORCHFLOW_RUNTIME_DIR", str(isolated / "runtime"))
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + "\n" + agents_toml())
    work = Path(os.path.realpath(isolated / "work"))
    work.mkdir()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        OrchestratorProcess.start(isolated, private_tmux.socket, project_root=work)
    )
    try:
        yield work
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


def _neovim(work: Path) -> Editor:
    ed = Editor()
    ed.cmd("cd " + str(work))
    ed.lua("require('orchflow').setup({ orchestrator = { mode = 'service' } })")
    ed.capture_notify()
    return ed


def _edit(ed: Editor, path: Path, unsaved: str) -> None:
    ed.cmd("edit " + str(path))
    ed.nv.input(f"cc{unsaved}<Esc>")
    ed.wait_until(lambda: ed.lua("return vim.bo.modified"))


def _agent(ed: Editor, name: str) -> None:
    """Made through this Neovim's connection to the service."""
    ed.lua(
        "require('orchflow.host').call('agent.new', "
        "{ type = 'ai', agent = 'scripted', name = ... }, function() end)",
        name,
    )
    ed.wait_until(lambda: _state(ed, name) == "idle", timeout=20)


def test_the_creator_serves_then_an_editor_that_has_the_file_then_the_disk(
    service: Path,
) -> None:
    work = service
    shared, only_b, disk = work / "shared.txt", work / "only_b.txt", work / "disk.txt"
    only_a = work / "only_a.txt"
    for path in (shared, only_a, only_b, disk):
        path.write_text("on disk\n")
    a = _neovim(work)
    b = _neovim(work)
    try:
        _edit(a, only_a, "A only")
        _edit(a, shared, "from A")
        _edit(b, only_b, "B only")
        _edit(b, shared, "from B")
        _agent(a, "by-a")  # A attaches first, B last: B is the most recent editor
        _agent(b, "by-b")

        assert "read=from A\n" in _prompt(a, "by-a", f"read: {shared}", "read=")
        assert "read=from B\n" in _prompt(b, "by-b", f"read: {shared}", "read=")
        # its creator has no buffer of it: the editor that has one serves
        assert "read=B only\n" in _prompt(a, "by-a", f"read: {only_b}", "read=B")
        # ... also when that editor is not the most recent one
        assert "read=A only\n" in _prompt(b, "by-b", f"read: {only_a}", "read=A")
        _prompt(a, "by-a", f"write: {only_b} agent text\\n", "write=ok")
        b.wait_until(
            lambda: b.lua("return vim.fn.getbufline(..., 1, '$')", str(only_b)) == ["agent text"]
        )
        assert only_b.read_text() == "agent text\n"  # written through B's buffer, saved
        assert "(Neovim buffer, saved)" in _output(a, "by-a")
        # loaded nowhere: the disk
        assert "read=on disk\n" in _prompt(a, "by-a", f"read: {disk}", "read=on")

        a.close()  # the creator is gone: the editor that has the file serves
        assert "read=from B\n" in _prompt(b, "by-a", f"read: {shared}", "read=from B")
        assert b.lua("return vim.fn.getbufline(..., 1, '$')", str(shared)) == ["from B"]
        assert shared.read_text() == "on disk\n"
    finally:
        a.close()
        b.close()
