""":Orchflow agent restart from Neovim: a real headless Neovim, its host, the sidecar
orchestrator it starts and the scripted ACP agent (a stand-in for a paid model:
tests/orchestrator/acp/scripted_agent.py) keeping its conversations on disk and offering
session/load."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.frontend.test_ai_agents_ui import _state, ai_editor
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import SCRIPT


def test_restart_resumes_and_the_output_float_shows_the_replay(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    sessions = isolated / "agent-sessions"
    sessions.mkdir()
    loader = json.dumps([sys.executable, "-I", str(SCRIPT), "--sessions", str(sessions)])
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(
        config.read_text() + f'\n[agents.loader]\ncommand = {loader}\ntransport = "acp"\n'
    )
    ed = ai_editor(editor, isolated)
    ed.cmd("Orchflow agent new ai loader")
    ed.wait_until(lambda: _state(ed, "loader-1") == "idle", timeout=20)
    ed.cmd("Orchflow agent prompt loader-1 echo: kept words")
    ed.cmd("Orchflow agent output loader-1")
    ed.wait_until(
        lambda: any("echo=kept words" in line for f in ed.floats() for line in f["lines"]),
        timeout=15,
    )
    ed.wait_until(lambda: _state(ed, "loader-1") == "idle", timeout=15)
    assert "loader-1" in ed.lua("return vim.fn.getcompletion('Orchflow agent restart ', 'cmdline')")

    ed.cmd("Orchflow agent restart loader-1")
    ed.wait_notify(r"orchflow: loader-1 resumed: session/load", timeout=20)
    f = ed.wait_until(
        lambda: next(
            (f for f in ed.floats() if sum("echo=kept words" in line for line in f["lines"]) == 2),
            None,
        ),
        timeout=10,
    )
    text = "\n".join(f["lines"])
    assert f["title"] == " agent: loader-1 "
    assert "[session/load " in text and text.index("[session/load ") < text.rindex("kept words")
    assert _state(ed, "loader-1") == "idle"


def test_restart_of_an_unknown_agent_says_so(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = ai_editor(editor, isolated)
    ed.cmd("Orchflow agent restart ghost")
    ed.wait_notify(r"no AI agent 'ghost' to restart", timeout=20)
