"""The agents float (:Orchflow agent list) on the screen of a real headless Neovim, with its
host, a real orchestrator (the sidecar it starts, or a service two Neovims use one after the
other), real tmux panes and the scripted ACP agent (a stand-in for a paid model:
tests/orchestrator/acp/scripted_agent.py). AI agents run in a tmp directory, never in this
checkout."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.frontend.test_ai_agents_ui import ai_editor
from tests.harness.editor import ROOT, Editor
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import agents_toml
from tests.orchestrator.server_process import server_env

TITLE = " orchflow agents "

# vim.ui.select and vim.ui.input as a picker plugin would replace them: they record what
# they were asked and answer what the test chose (_G.choose: an option_id of an agent's
# question, or the text of a plain item; _G.typed: the text typed at an input prompt).
STUBS = """
_G.asked, _G.inputs = {}, {}
vim.ui.select = function(items, opts, on_choice)
  table.insert(_G.asked, { prompt = opts.prompt })
  for _, o in ipairs(items) do
    if (type(o) == 'table' and o.option_id == _G.choose) or o == _G.choose then
      return on_choice(o)
    end
  end
  on_choice(nil)
end
vim.ui.input = function(opts, on_confirm)
  table.insert(_G.inputs, opts.prompt)
  on_confirm(_G.typed)
end
"""


def setup(editor: Editor, isolated: Path) -> Editor:
    ed = ai_editor(editor, isolated)
    ed.lua(STUBS)
    return ed


def agents_float(ed: Editor) -> dict[str, Any] | None:
    return next((f for f in ed.floats() if f["title"] == TITLE), None)


def row(ed: Editor, name: str) -> list[str] | None:
    """The float's row of agent ``name``, split in cells (columns are space-separated)."""
    f = agents_float(ed)
    for line in f["lines"] if f else []:
        if line.split()[:1] == [name]:
            return list(line.split())
    return None


def wait_row(ed: Editor, name: str, test: Any = None, *, timeout: float = 15.0) -> list[str]:
    return ed.wait_until(
        lambda: (r := row(ed, name)) is not None and (test is None or test(r)) and r,
        timeout=timeout,
    )


def cursor_to(ed: Editor, name: str) -> None:
    """Put the float's cursor on ``name``'s row (as j/k would) and make sure it is there."""
    f = agents_float(ed)
    assert f is not None
    line = next(i for i, text in enumerate(f["lines"], 1) if text.split()[:1] == [name])
    ed.lua(
        "local win, line = ... vim.api.nvim_set_current_win(win)"
        " vim.api.nvim_win_set_cursor(win, { line, 0 })",
        f["win"],
        line,
    )


def press(ed: Editor, key: str) -> None:
    ed.assert_not_blocked()
    ed.nv.input(key)


def new_acp_agent(ed: Editor, name: str = "scripted-1") -> None:
    ed.cmd("Orchflow agent new ai scripted")
    ed.wait_notify(rf"agent {name} \(scripted, acp\) starting", timeout=20)


def open_float(ed: Editor) -> dict[str, Any]:
    ed.cmd("Orchflow agent list")
    return ed.wait_until(lambda: agents_float(ed), timeout=10)


def test_rows_show_each_agent_and_a_state_change_appears_without_a_key(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = setup(editor, isolated)
    new_acp_agent(ed)
    ed.cmd("Orchflow agent new ai tui")
    ed.wait_notify(r"agent tui-1 \(tui, terminal\)", timeout=20)
    ed.cmd("Orchflow agent new custom sh -c 'echo ready; exec cat'")
    ed.wait_notify(r"agent \S+ \(custom\)", timeout=20)
    f = open_float(ed)
    assert (
        f["footer"]
        == " a attach  p prompt  A answer  o output  s stop  r restart  ? help  q close "
    )
    acp = wait_row(ed, "scripted-1", lambda r: r[3] == "idle")
    assert acp[1:4] == ["scripted", "acp", "idle"] and acp[4].endswith("s")
    assert acp[5].startswith("…/") and acp[5].endswith("/work")  # its directory, shortened
    assert wait_row(ed, "tui-1")[1:3] == ["tui", "terminal"]
    custom = next(line for line in agents_float(ed)["lines"] if " custom " in line)  # type: ignore[index]
    assert custom.split()[1:3] == ["custom", "pane"] and "sh -c 'echo ready; exec cat'" in custom
    header = agents_float(ed)["lines"][0]  # type: ignore[index]
    assert header.split() == ["NAME", "AGENT", "VIA", "STATE", "WHERE", "TOKENS", "LAST"]
    float_win = f["win"]
    ed.lua("vim.api.nvim_set_current_win(...)", float_win)
    # the agent asks, from outside the float (no key pressed): its row changes by itself
    ed.lua("require('orchflow.host').call('agent.prompt', { id = 'scripted-1', text = 'ask' })")
    asking = wait_row(ed, "scripted-1", lambda r: r[3] == "needs_input")
    assert asking[1:4] == ["scripted", "acp", "needs_input"]
    assert asking[-3:] == ["asks:", "Delete", "build/"]
    lines = agents_float(ed)["lines"]  # type: ignore[index]
    assert lines[1].split()[0] == "scripted-1"  # waiting for you: first
    marks = ed.lua(
        """local buf = vim.api.nvim_win_get_buf(...)
        local ns = require('orchflow.agents').ns
        local out = {}
        local row2 = vim.api.nvim_buf_get_extmarks(buf, ns, { 1, 0 }, { 1, -1 }, { details = true })
        for _, m in ipairs(row2) do
          out[#out + 1] = m[4].hl_group
        end
        return out""",
        float_win,
    )
    assert "OrchflowAgentNeedsInput" in marks
    assert ed.lua("return vim.api.nvim_get_current_win()") == float_win  # focus stayed
    # A: the same question again (the notice's was dismissed), answered "allow"
    ed.wait_until(lambda: ed.lua("return #_G.asked") >= 1, timeout=10)
    ed.lua("_G.choose = 'allow'")
    cursor_to(ed, "scripted-1")
    press(ed, "A")
    answered = wait_row(ed, "scripted-1", lambda r: r[3] == "idle" and "permission=allow" in r)
    assert answered[-1] == "permission=allow"
    stats = ed.lua("return require('orchflow.agents').stats()")
    assert stats["fetches"] >= 2


def test_it_follows_the_agents_while_the_user_types_elsewhere(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = setup(editor, isolated)
    new_acp_agent(ed)
    f = open_float(ed)
    wait_row(ed, "scripted-1", lambda r: r[3] == "idle")
    ed.cmd("wincmd p")  # back to the file, the float stays open
    main = ed.lua("return vim.api.nvim_get_current_win()")
    assert main != f["win"]
    ed.nv.input("itype here")
    ed.wait_until(lambda: ed.nv.api.get_mode()["mode"] == "i")
    ed.lua("require('orchflow.host').call('agent.prompt', { id = 'scripted-1', text = 'hello' })")
    wait_row(ed, "scripted-1", lambda r: r[3] == "idle" and r[-2:] == ["Hello", "there."])
    assert ed.nv.api.get_mode()["mode"] == "i"
    assert ed.lua("return vim.api.nvim_get_current_win()") == main
    ed.nv.input(" still")
    ed.wait_until(lambda: ed.lua("return vim.api.nvim_get_current_line()") == "type here still")


def test_prompt_output_and_stop_keys(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = setup(editor, isolated)
    new_acp_agent(ed)
    open_float(ed)
    wait_row(ed, "scripted-1", lambda r: r[3] == "idle")
    ed.lua("_G.typed = 'hello'")
    cursor_to(ed, "scripted-1")
    press(ed, "p")
    said = wait_row(ed, "scripted-1", lambda r: r[-2:] == ["Hello", "there."])
    assert ed.lua("return _G.inputs") == ["prompt scripted-1: "]
    assert said[6] == "1.2k/200k"  # tokens: the context used of its size
    ed.wait_notify(r"orchflow: prompted scripted-1: turn t1")
    # o: its output, in a float over the list
    cursor_to(ed, "scripted-1")
    press(ed, "o")
    out = ed.wait_until(
        lambda: next(
            (
                f
                for f in ed.floats()
                if f["title"] == " agent: scripted-1 " and "Hello there." in "\n".join(f["lines"])
            ),
            None,
        ),
        timeout=10,
    )
    assert "> hello" in "\n".join(out["lines"])
    press(ed, "q")
    ed.wait_until(lambda: not [f for f in ed.floats() if f["title"] == " agent: scripted-1 "])
    # s: asks first; "Keep it" keeps it, "Stop" stops it
    cursor_to(ed, "scripted-1")
    press(ed, "s")
    ed.wait_until(lambda: ed.lua("return _G.asked[#_G.asked]"))
    assert ed.lua("return _G.asked[#_G.asked].prompt") == "Stop agent scripted-1?"
    assert row(ed, "scripted-1")[3] == "idle"  # type: ignore[index]
    ed.lua("_G.choose = 'Stop scripted-1'")
    press(ed, "s")
    wait_row(ed, "scripted-1", lambda r: r[3] == "exited")
    ed.wait_notify(r"orchflow: stopped scripted-1")
    ed.lua(
        """_G.got = nil
        require('orchflow.host').call('agent.get', { id = 'scripted-1' },
          function(_, a) _G.got = a end)"""
    )
    got = ed.wait_until(lambda: ed.lua("return _G.got"), timeout=10)
    assert got["state"] == "exited"
    assert not Path(f"/proc/{got['pid']}").exists() or _zombie(got["pid"])


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_attach_opens_the_pane_and_acp_attach_its_output(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = setup(editor, isolated)
    name = "marker"
    ed.lua(
        """require('orchflow.host').call('agent.new', { type = 'custom', name = 'marker',
          command = "sh -c 'echo attach-marker-42; exec cat'", cwd = vim.fn.getcwd() })"""
    )
    new_acp_agent(ed)
    open_float(ed)
    wait_row(ed, name)
    wait_row(ed, "scripted-1", lambda r: r[3] == "idle")
    # <CR> on an ACP agent: its output (it has no pane)
    cursor_to(ed, "scripted-1")
    press(ed, "<CR>")
    ed.wait_until(lambda: [f for f in ed.floats() if f["title"] == " agent: scripted-1 "])
    press(ed, "q")
    ed.wait_until(lambda: not [f for f in ed.floats() if f["title"] == " agent: scripted-1 "])
    # a on a pane agent: a terminal split attached to its pane, its bytes on the screen
    cursor_to(ed, name)
    press(ed, "a")
    ed.wait_until(lambda: "attach-marker-42" in ed.screen_text(), timeout=15)
    assert agents_float(ed) is None  # the float made way for the split
    assert ed.lua("return vim.bo.buftype") == "terminal"


def test_restart_key_restarts_the_agent_and_says_how(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = setup(editor, isolated)
    new_acp_agent(ed)
    open_float(ed)
    wait_row(ed, "scripted-1", lambda r: r[3] == "idle")
    ed.lua("_G.typed = 'hello'")
    cursor_to(ed, "scripted-1")
    press(ed, "p")
    wait_row(ed, "scripted-1", lambda r: r[-2:] == ["Hello", "there."])
    cursor_to(ed, "scripted-1")
    press(ed, "r")
    ed.wait_notify(r"orchflow: restarted scripted-1: \S", timeout=60)
    wait_row(ed, "scripted-1", lambda r: r[3] == "idle", timeout=30)


# -- a Neovim restart: the agents live in the orchestrator ----------------------------------
class Service:
    """``python -m orchestrator serve`` as a service both Neovims attach to, in turn."""

    def __init__(self, base: Path, tmux_socket: str, project_root: Path) -> None:
        self.discovery_file = base / "runtime" / "orchestrator.json"
        argv = [sys.executable, "-m", "orchestrator", "serve", "--listen", "127.0.0.1:0"]
        argv += ["--discovery-file", str(self.discovery_file), "--project-root", str(project_root)]
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=server_env(base, tmux_socket),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20.0)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError("the orchestrator service did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def service(isolated: Path, private_tmux: TmuxServer) -> Iterator[Service]:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + "\n" + agents_toml())
    work = isolated / "work"  # not a git repository: no worktree
    work.mkdir(exist_ok=True)
    s = Service(isolated, private_tmux.socket, work)
    yield s
    s.stop()


def service_editor(service: Service, work: Path) -> Editor:
    ed = Editor()
    ed.cmd("cd " + str(work))
    ed.lua(
        "require('orchflow').setup({ orchestrator = { mode = 'service', discovery_file = ... } })",
        str(service.discovery_file),
    )
    ed.capture_notify()
    ed.lua(STUBS)
    return ed


def test_agents_and_their_states_survive_a_neovim_restart(
    service: Service, isolated: Path, private_tmux: TmuxServer
) -> None:
    work = isolated / "work"
    first = service_editor(service, work)
    try:
        new_acp_agent(first)
        first.cmd("Orchflow agent new ai tui")
        first.wait_notify(r"agent tui-1 \(tui, terminal\)", timeout=20)
        open_float(first)
        wait_row(first, "scripted-1", lambda r: r[3] == "idle")
        first.lua("_G.typed = 'hello'")
        cursor_to(first, "scripted-1")
        press(first, "p")
        wait_row(first, "scripted-1", lambda r: r[-2:] == ["Hello", "there."])
        wait_row(first, "tui-1")
    finally:
        first.close()
    assert service.proc.poll() is None  # the service outlives the editor
    second = service_editor(service, work)
    try:
        open_float(second)
        again = wait_row(second, "scripted-1")
        assert again[1:4] == ["scripted", "acp", "idle"] and again[-2:] == ["Hello", "there."]
        assert again[6] == "1.2k/200k"
        assert wait_row(second, "tui-1")[1:3] == ["tui", "terminal"]
        # and the new Neovim follows it live: it asks, the row changes without a key
        second.lua(
            "require('orchflow.host').call('agent.prompt', { id = 'scripted-1', text = 'ask' })"
        )
        wait_row(second, "scripted-1", lambda r: r[3] == "needs_input")
    finally:
        second.close()


def test_help_key_lists_every_key(editor: Editor, isolated: Path, private_tmux: TmuxServer) -> None:
    ed = setup(editor, isolated)
    open_float(ed)
    ed.wait_until(lambda: "No agents." in "\n".join(agents_float(ed)["lines"]), timeout=15)  # type: ignore[index]
    press(ed, "?")
    f = ed.wait_until(
        lambda: next((f for f in ed.floats() if f["title"] == " orchflow agents: keys "), None)
    )
    text = "\n".join(f["lines"])
    for key in ("<CR> a", "p ", "A ", "o ", "s ", "r ", "R ", "q <Esc>", "? "):
        assert any(line.startswith(key) for line in f["lines"]), key
    assert "restart the agent" in text
    press(ed, "q")  # the help closes, the list is back
    ed.wait_until(lambda: len(ed.floats()) == 1)
    fetches = ed.lua("return require('orchflow.agents').stats().fetches")
    press(ed, "R")
    ed.wait_until(
        lambda: ed.lua("return require('orchflow.agents').stats().fetches") > fetches, timeout=10
    )
    press(ed, "q")
    ed.wait_until(lambda: agents_float(ed) is None)
    assert ed.lua("return require('orchflow.agents').stats()") is None


def test_a_terminal_agent_takes_the_prompt_in_its_tui_and_answer_opens_its_pane(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = setup(editor, isolated)
    ed.cmd("Orchflow agent new ai tui")
    ed.wait_notify(r"agent tui-1 \(tui, terminal\)", timeout=20)
    open_float(ed)
    assert wait_row(ed, "tui-1")[1:3] == ["tui", "terminal"]
    ed.lua("_G.typed = 'fix the flaky test'")
    cursor_to(ed, "tui-1")
    press(ed, "p")  # typed into its TUI and submitted
    ed.wait_notify(r"orchflow: prompted tui-1")
    cursor_to(ed, "tui-1")
    press(ed, "A")  # its question is in its TUI: its pane opens
    ed.wait_until(lambda: "tui got: fix the flaky test" in ed.screen_text(), timeout=15)
    assert agents_float(ed) is None and ed.lua("return vim.bo.buftype") == "terminal"


def test_a_new_neovim_counts_the_agents_that_ran_before_it_came(
    service: Service, isolated: Path, private_tmux: TmuxServer
) -> None:
    """The statusline's "ai N" after a Neovim restart: an idle ACP agent sends no event, so
    the link seeds the states from agent.watch's answer when it connects."""
    work = isolated / "work"
    first = service_editor(service, work)
    try:
        new_acp_agent(first)
        statusline = "return require('orchflow.statusline').get()"
        first.wait_until(lambda: "ai 1" in first.lua(statusline), timeout=10)
    finally:
        first.close()
    second = service_editor(service, work)
    try:
        second.lua("require('orchflow.host').call('agent.registry', {}, function() end)")
        second.wait_until(lambda: "ai 1" in second.lua(statusline), timeout=10)
    finally:
        second.close()
