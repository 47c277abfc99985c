"""Sidecar mode from Neovim: the host starts a real orchestrator on first need."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer
from tests.harness.venv import overlay_venv


def sidecar_editor(editor: Editor) -> Editor:
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    return editor


def first_need(ed: Editor, command: str, expect: str) -> str:
    """Run ``command``, which starts the sidecar on first need. On a loaded machine the
    sidecar may take longer than the host's 300 ms wait: the user then sees "starting…"
    and the command completes once it is up (Lua asks again), never "try again"."""
    ed.cmd(command)
    msg = ed.wait_notify(expect, timeout=15)
    assert not [m for m, _ in ed.notifications() if "still starting" in m]
    return msg


def test_memory_store_and_search_through_the_sidecar(editor: Editor) -> None:
    ed = sidecar_editor(editor)
    first_need(
        ed, "Orchflow memory store db-url postgres://localhost/app", "stored db-url in default"
    )
    ed.cmd("Orchflow memory search postgres")
    floats = ed.wait_until(ed.floats)
    assert floats[0]["title"] == " memory: postgres "
    assert any(
        "db-url" in line and "postgres://localhost/app" in line for line in floats[0]["lines"]
    )


def test_a_slow_first_start_says_starting_then_completes_the_command(
    isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    """The real sidecar, only slower than the host's 300 ms wait: the host runs a fresh
    venv's Python (the sidecar runs the host's Python) with a .pth file that sleeps
    0.8 s in the orchestrator process alone (as a first start compiling bytecode on a
    loaded machine does). Not PYTHONPATH: the sidecar runs isolated (python -I)."""
    python = overlay_venv(
        tmp_path / "slow-venv",
        extra_pth={
            "slow_start.pth": "import sys, time; 'serve' in sys.orig_argv and time.sleep(0.8)\n"
        },
    )
    ed = Editor()
    try:
        ed.lua(
            "require('orchflow').setup({ python = ..., orchestrator = { mode = 'sidecar' } })",
            str(python),
        )
        ed.capture_notify()
        first_need(ed, "Orchflow memory store slow-key it works", "stored slow-key in default")
        notes = [m for m, _ in ed.notifications()]
        assert "orchflow: the orchestrator is starting…" in notes
        assert notes.index("orchflow: the orchestrator is starting…") < len(notes) - 1
    finally:
        ed.close()


def test_agent_new_list_and_output(editor: Editor, private_tmux: TmuxServer) -> None:
    ed = sidecar_editor(editor)
    msg = first_need(
        ed,
        "Orchflow agent new custom sh -c 'echo agent-says-$((40+2)); exec cat'",
        r"agent \S+ \(custom\)",
    )
    agent_id = re.search(r"agent (\S+) \(custom\)", msg).group(1)  # type: ignore[union-attr]
    ed.cmd("Orchflow agent list")
    lines = ed.wait_until(lambda: [f for f in ed.floats() if "agents" in (f["title"] or "")])[0][
        "lines"
    ]
    assert any(line.startswith(agent_id) and "custom" in line for line in lines)
    ed.nv.input("q")
    ed.cmd(f"Orchflow agent output {agent_id}")

    def output_text() -> str | None:
        for f in ed.floats():
            if f["title"] == f" agent: {agent_id} " and any(
                "agent-says-42" in x for x in f["lines"]
            ):
                return "\n".join(f["lines"])
        return None

    ed.wait_until(output_text, timeout=10)
    ed.cmd(f"Orchflow agent send {agent_id} typed-live-line")
    assert "typed-live-line" in ed.wait_until(
        lambda: (t := output_text()) and "typed-live-line" in t and t
    )
    # the agent is a real tmux pane, typed as such
    assert "custom" in private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_type}").split()


def test_status_float_shows_the_running_sidecar(editor: Editor) -> None:
    ed = sidecar_editor(editor)
    ed.cmd("Orchflow orchestrator start")
    ed.wait_notify("orchestrator running", timeout=15)
    ed.cmd("Orchflow orchestrator status")
    lines = ed.wait_until(ed.floats)[0]["lines"]
    text = "\n".join(lines)
    assert "mode:     sidecar" in text and "state:    running" in text and "pid:" in text


def test_sidecar_stops_when_neovim_quits(isolated: Path, private_tmux: TmuxServer) -> None:
    ed = Editor()
    sidecar_editor(ed)
    ed.cmd("Orchflow orchestrator start")
    ed.wait_notify("orchestrator running", timeout=15)
    ed.cmd("Orchflow orchestrator status")
    text = "\n".join(ed.wait_until(ed.floats)[0]["lines"])
    pid = int(re.search(r"pid:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    ed.close()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text().split()
        if stat[2] == "Z":
            break
        time.sleep(0.05)
    alive = (
        Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    )
    assert not alive, "the sidecar outlived Neovim"


def test_checkhealth_reports_service_mode_without_a_server(editor: Editor) -> None:
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'service' } })")
    editor.cmd("checkhealth orchflow")
    text = "\n".join(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert "mode service: orchestrator unreachable" in text
    assert "orchflow-orchestrator serve" in text
