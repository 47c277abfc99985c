"""Sessions and panes from Neovim, against a real tmux server: what the user sees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def float_lines(editor: Editor, title: str) -> list[str]:
    for f in editor.floats():
        if f["title"] and title in f["title"]:
            return list(f["lines"])
    return []


def wait_float(editor: Editor, title: str, pattern: str, timeout: float = 8.0) -> list[str]:
    def ready() -> list[str] | None:
        lines = float_lines(editor, title)
        return lines if any(re.search(pattern, line) for line in lines) else None

    try:
        return editor.wait_until(ready, timeout=timeout)
    except AssertionError:
        raise AssertionError(
            f"no {pattern!r} in float {title!r}; floats: {editor.floats()}"
        ) from None


def new_pane(editor: Editor, args: str) -> str:
    """``:Orchflow pane new {args}``. Never a bare dev/test/build/lint/repl type here: that
    runs the command detected in the editor's cwd, which is this repository (make test)."""
    editor.capture_notify()
    editor.cmd(f"Orchflow pane new {args}")
    msg = editor.wait_notify(r"pane (%|pty:)\d+ .* created|orchflow: ", timeout=10)
    m = re.search(r"pane (%\d+|pty:\d+)", msg)
    assert m, msg
    return m.group(1)


def test_new_pane_appears_in_the_dashboard(editor: Editor, private_tmux: TmuxServer) -> None:
    pane = new_pane(editor, "build sleep 300")
    editor.cmd("Orchflow pane list")
    lines = wait_float(editor, "orchflow", re.escape(pane))
    row = next(line for line in lines if pane in line)
    assert "build" in row and "idle" in row
    assert any("orchflow" in line and "current" in line for line in lines)
    # the pane is really in tmux, tagged with its type
    out = private_tmux.run("list-panes", "-a", "-F", "#{pane_id} #{@orchflow_type}")
    assert f"{pane} build" in out


def last_screen_line(tmux: TmuxServer, pane: str) -> str:
    lines = [
        line for line in tmux.run("capture-pane", "-p", "-t", pane).splitlines() if line.strip()
    ]
    return lines[-1].rstrip() if lines else ""


def test_run_reports_exit_code_in_dashboard_and_statusline(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    pane = new_pane(editor, "shell")
    editor.cmd("Orchflow pane list")
    wait_float(editor, "orchflow", re.escape(pane))
    editor.cmd(f"Orchflow pane run {pane} sh -c 'echo failing-now; exit 3'")
    lines = wait_float(editor, "orchflow", r"idle 3")
    row = next(line for line in lines if pane in line)
    assert "sh -c" in row  # the last command
    # the pane's last line follows its output (the prompt comes after the exit)
    wait_float(editor, "orchflow", re.escape(last_screen_line(private_tmux, pane)) + "$")
    assert (
        editor.wait_until(lambda: editor.lua("return require('orchflow.statusline').get()"))
        == "⧉ 1 ✗1"
    )


def test_output_float_shows_new_output_live(editor: Editor) -> None:
    pane = new_pane(editor, "shell")
    editor.cmd(f"Orchflow pane output {pane}")
    editor.wait_until(lambda: float_lines(editor, "output") or None)
    editor.cmd(f"Orchflow pane send {pane} echo marker-$((6*7))")
    lines = wait_float(editor, "output", r"^marker-42$")
    assert any(line.startswith("marker-42") for line in lines)


def test_attach_opens_a_terminal_split_on_the_pane(editor: Editor) -> None:
    pane = new_pane(editor, "shell")
    editor.cmd(f"Orchflow pane attach {pane}")
    editor.wait_until(lambda: editor.lua("return vim.bo.buftype") == "terminal")
    assert editor.lua("return vim.b.orchflow_pane") == pane
    assert len(editor.lua("return vim.api.nvim_list_wins()")) == 2


def test_unknown_pane_is_named(editor: Editor) -> None:
    new_pane(editor, "shell")
    editor.capture_notify()
    editor.cmd("Orchflow pane send nosuchpane hello")
    msg = editor.wait_notify("no pane")
    assert "'nosuchpane'" in msg


def test_session_commands(editor: Editor, private_tmux: TmuxServer) -> None:
    editor.capture_notify()
    editor.cmd("Orchflow session new work")
    editor.wait_notify("session work created")
    editor.cmd("Orchflow session rename work play")
    editor.wait_notify("renamed to play")
    assert "play" in private_tmux.run("list-sessions", "-F", "#{session_name}").split()
    editor.cmd("Orchflow session new play")
    assert "exists already" in editor.wait_notify("exists")
    editor.cmd("Orchflow session kill play")
    editor.wait_notify("session play killed")
    assert "play" not in private_tmux.run("list-sessions", "-F", "#{session_name}").split()


def test_scrollback_search_lists_matches(editor: Editor, private_tmux: TmuxServer) -> None:
    pane = new_pane(editor, "shell")
    editor.cmd(f"Orchflow pane send {pane} echo needle-$((1+1))")
    editor.wait_until(lambda: "needle-2\n" in private_tmux.run("capture-pane", "-p", "-t", pane))
    editor.cmd("Orchflow pane search needle-2")
    lines = wait_float(editor, "scrollback", re.escape(pane))
    assert any("needle-2" in line for line in lines)


def test_scrollback_search_with_a_runaway_regex_says_it_took_too_long(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    pane = new_pane(editor, "shell")
    editor.capture_notify()
    editor.cmd(f"Orchflow pane send {pane} printf 'a%.0s' $(seq 40); echo '!'")
    line = "a" * 40 + "!\n"
    editor.wait_until(lambda: line in private_tmux.run("capture-pane", "-p", "-t", pane))
    editor.cmd("Orchflow pane search (a+)+$")  # backtracks for ever on a{40}!
    msg = editor.wait_notify("took too long", timeout=30)  # the time box is 5 s
    assert "'(a+)+$'" in msg


def test_reattach_after_restart_without_duplicates(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    first = Editor()
    try:
        pane = new_pane(first, "build")
    finally:
        first.close()
    second = Editor()
    try:
        second.cmd("Orchflow pane list")
        lines = wait_float(second, "orchflow", re.escape(pane))
        assert sum(pane in line for line in lines) == 1
        assert len(private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_id}").split()) == 1
    finally:
        second.close()


def test_pty_backend_needs_no_tmux(
    editor: Editor, private_tmux: TmuxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor.lua("vim.env.SHELL = '/bin/sh'")  # a shell with no rc files: the pane is ready at once
    editor.lua("require('orchflow').setup({ terminal = { backend = 'pty' } })")
    pane = new_pane(editor, "shell")
    assert pane.startswith("pty:")
    editor.cmd("Orchflow pane list")
    wait_float(editor, "orchflow", re.escape(pane))
    editor.cmd(f"Orchflow pane run {pane} sh -c 'exit 5'")
    wait_float(editor, "orchflow", r"idle 5")
    editor.capture_notify()
    editor.cmd(f"Orchflow pane attach {pane}")
    assert "attach needs the tmux backend" in editor.wait_notify("attach needs")
    # nothing was made in tmux
    assert private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_id}", check=False).strip() == ""


def test_send_without_text_asks_and_a_cancelled_prompt_sends_nothing(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    pane = new_pane(editor, "shell")
    editor.lua(
        """_G.__answers, _G.__prompts = { vim.NIL, 'echo asked-$((40+2))' }, {}
        vim.ui.input = function(opts, cb)
          table.insert(_G.__prompts, opts.prompt)
          local a = table.remove(_G.__answers, 1)
          cb(a ~= vim.NIL and a or nil)
        end"""
    )
    # the prompt first, so the line below is not typed ahead (echoed twice)
    before = editor.wait_until(lambda: private_tmux.run("capture-pane", "-p", "-t", pane).rstrip())
    editor.cmd(f"Orchflow pane send {pane}")  # cancelled (<Esc>): nothing reaches the pane
    editor.cmd(f"Orchflow pane send {pane}")
    editor.wait_until(
        lambda: "asked-42" in private_tmux.run("capture-pane", "-p", "-t", pane).split()
    )
    screen = private_tmux.run("capture-pane", "-p", "-t", pane)
    # one prompt line before + the typed line + its output + a new prompt: no empty <CR>
    assert screen.rstrip().count("\n") == before.count("\n") + 2
    assert editor.lua("return _G.__prompts") == [f"send to {pane}: "] * 2


def test_dashboard_shows_a_running_command_not_the_run_wrapper(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    pane = new_pane(editor, "shell")
    editor.cmd(f"Orchflow pane run {pane} sleep 30 # it's long")
    editor.wait_until(lambda: "orchflow-done" in private_tmux.run("capture-pane", "-p", "-t", pane))
    editor.cmd("Orchflow pane list")
    lines = wait_float(editor, "orchflow", re.escape("sleep 30 # it's long") + "$")
    assert not any("orchflow-done" in line or "trap" in line for line in lines)


def test_a_test_pane_without_a_command_runs_the_projects_own(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    """No orchestrator (embedded mode): core detects the command itself."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Makefile").write_text("test:\n\t@echo make-test-says-$$((40+2))\n")
    editor.cmd(f"cd {project}")
    pane = new_pane(editor, "test")
    editor.cmd("Orchflow pane list")
    row = next(line for line in wait_float(editor, "orchflow", re.escape(pane)) if pane in line)
    assert "test" in row
    # with its history: tmux's "Pane is dead" line can scroll the output off the screen
    editor.wait_until(
        lambda: "make-test-says-42" in private_tmux.run("capture-pane", "-p", "-S", "-", "-t", pane)
    )
    editor.capture_notify()
    editor.cmd(f"cd {tmp_path}")  # no project files here
    editor.cmd("Orchflow pane new lint")
    assert "no lint command found" in editor.wait_notify("no lint command")
