"""Sidecar mode from Neovim: the host starts a real orchestrator on first need."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from orchflow_core import paths
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer
from tests.harness.venv import overlay_venv


def sidecar_editor(editor: Editor) -> Editor:
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    return editor


def first_need(ed: Editor, command: str, expect: str) -> str:
    """Run ``command``, which starts the sidecar on first need. The host waits for it (at
    most 10 s); past 300 ms the user sees "starting…" once, and the command completes
    once it is up, never "try again"."""
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
        assert notes.count("orchflow: the orchestrator is starting…") == 1
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
    assert any(  # the agents float: name, type, "pane", state, ..., its command
        line.split()[1:3] == ["custom", "pane"] and "agent-says-$((40+2))" in line for line in lines
    )
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


def float_text(ed: Editor, title: str) -> str | None:
    for f in ed.floats():
        if f["title"] == f" {title} ":
            return "\n".join(f["lines"])
    return None


def test_agent_output_float_says_when_its_stream_ends(editor: Editor) -> None:
    ed = sidecar_editor(editor)
    msg = first_need(ed, "Orchflow agent new custom sh -c 'echo up; exec cat'", r"agent \S+")
    agent_id = re.search(r"agent (\S+) \(custom\)", msg).group(1)  # type: ignore[union-attr]
    ed.cmd(f"Orchflow agent output {agent_id}")
    ed.wait_until(lambda: "up" in (float_text(ed, f"agent: {agent_id}") or ""), timeout=10)
    ed.cmd(f"Orchflow agent stop {agent_id}")
    text = ed.wait_until(
        lambda: (t := float_text(ed, f"agent: {agent_id}")) and "[stream ended" in t and t,
        timeout=10,
    )
    assert "[stream ended: the pane is gone]" in text


def test_agent_output_by_name_shows_the_backlog(editor: Editor) -> None:
    """Opened by name: the backlog can arrive before the reply that says which agent id
    the name stands for; it is kept, not dropped."""
    ed = sidecar_editor(editor)
    ed.lua(
        """require('orchflow.host').call('agent.new', { type = 'custom', name = 'scribe',
             command = "sh -c 'echo backlog-$((20+22)); exec cat'" }, function(err, a)
             _G.__agent = err or a end)"""
    )
    agent = ed.wait_until(lambda: ed.lua("return _G.__agent"), timeout=15)
    assert agent.get("name") == "scribe", agent
    ed.wait_until(
        lambda: (
            "backlog-42"
            in ed.lua(
                "return require('orchflow.host').wait('agent.output', { id = 'scribe' }, 5000).text"
            )
        ),
        timeout=10,
    )
    ed.cmd("Orchflow agent output scribe")
    ed.wait_until(lambda: "backlog-42" in (float_text(ed, "agent: scribe") or ""), timeout=10)


def test_agent_new_and_memory_store_take_their_text_as_typed(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    ed = sidecar_editor(editor)
    value = "a  b\tc \\\\d 'e' $(f) ✓"
    first_need(ed, f"Orchflow memory store raw-key {value}", "stored raw-key")
    got = ed.lua("return require('orchflow.host').wait('memory.get', { key = 'raw-key' })")
    assert got["value"] == value
    msg = first_need(
        ed, "Orchflow agent new custom printf '%s|' 'x  y' 'z\\\\w'; exec cat", "agent"
    )
    agent_id = re.search(r"agent (\S+) \(custom\)", msg).group(1)  # type: ignore[union-attr]
    agent = ed.lua(f"return require('orchflow.host').wait('agent.get', {{ id = '{agent_id}' }})")
    assert agent["command"] == "printf '%s|' 'x  y' 'z\\\\w'; exec cat"


def test_a_sidecar_agent_runs_on_the_same_tmux_server_as_the_users_panes(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setup({ tmux = { socket } }) reaches the sidecar: its agents and the panes Neovim
    makes are on one server (no $ORCHFLOW_TMUX_SOCKET here: the option alone decides)."""
    monkeypatch.delenv("ORCHFLOW_TMUX_SOCKET", raising=False)
    server = TmuxServer()  # only its unique name and its kill(); orchflow starts it
    ed = Editor()
    try:
        ed.lua(
            "require('orchflow').setup({ tmux = { socket = ... }, "
            "orchestrator = { mode = 'sidecar' } })",
            server.socket,
        )
        ed.capture_notify()
        ed.cmd("Orchflow pane new build")
        ed.wait_notify(r"pane %\d+ \(build\) created", timeout=10)
        first_need(ed, "Orchflow agent new custom sh -c 'exec cat'", r"agent \S+ \(custom\)")
        types = server.run("list-panes", "-a", "-F", "#{@orchflow_type}").split()
        assert sorted(types) == ["build", "custom"]
    finally:
        ed.close()
        server.kill()


def test_an_unavailable_answer_is_reported_once_and_the_float_keeps_streaming(
    editor: Editor, isolated: Path
) -> None:
    """The orchestrator answers -32003 (its memory store cannot open): the user is told
    once; the connection stays, so an open agent output float keeps streaming."""
    (paths.state_dir() / "memory.db").mkdir(parents=True)
    ed = sidecar_editor(editor)
    msg = first_need(ed, "Orchflow agent new custom sh -c 'exec cat'", r"agent \S+")
    agent_id = re.search(r"agent (\S+) \(custom\)", msg).group(1)  # type: ignore[union-attr]
    ed.cmd(f"Orchflow agent output {agent_id}")
    ed.wait_until(lambda: float_text(ed, f"agent: {agent_id}") is not None)
    ed.cmd("Orchflow memory store k v")
    ed.wait_notify("unavailable: ")
    time.sleep(0.5)  # a retry would show a second message
    assert len([m for m, _ in ed.notifications() if "unavailable: " in m]) == 1
    ed.cmd(f"Orchflow agent send {agent_id} after-the-error")
    ed.wait_until(lambda: "after-the-error" in (float_text(ed, f"agent: {agent_id}") or ""))
    assert "[stream ended" not in (float_text(ed, f"agent: {agent_id}") or "")


def test_agent_send_types_the_raw_text(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    """A raw-mode reader as the agent records the bytes exactly. (How Enter is typed is the
    orchestrator's business: a CR key press, or the line feed it types today.)"""
    text = "-x  two\ttab \\\\ 'q' \"d\" ; $(no) `id` ünï ✓"
    out = tmp_path / "agent-received"
    n = len(text.encode()) + 1
    ed = sidecar_editor(editor)
    msg = first_need(
        ed,
        f"Orchflow agent new custom sh -c 'stty raw -echo; printf ready; head -c {n} > {out}'",
        r"agent \S+ \(custom\)",
    )
    agent_id = re.search(r"agent (\S+) \(custom\)", msg).group(1)  # type: ignore[union-attr]
    pane = ed.lua(f"return require('orchflow.host').wait('agent.get', {{ id = '{agent_id}' }})")[
        "pane_id"
    ]
    ed.wait_until(lambda: "ready" in private_tmux.run("capture-pane", "-p", "-t", pane), timeout=10)
    ed.cmd(f"Orchflow agent send {agent_id} {text}")
    ed.wait_until(lambda: out.exists() and len(out.read_bytes()) >= n, timeout=10)
    got = out.read_bytes()
    assert got[:-1] == text.encode() and got[-1:] in (b"\r", b"\n")
