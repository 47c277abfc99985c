""":Orchflow ask {agent} {text} in a real headless Neovim: its host, the sidecar
orchestrator it starts, and a terminal-transport agent in a real tmux pane. The agent is
registered as `claude` with its command replaced by a shell loop that writes every line it
reads to a file (a stand-in for the Claude Code TUI, which needs an account): the registry's
own file reference format (`@{path}#L{start}-{end}`) applies, and the test reads the exact
bytes that reached the pane's program."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


@pytest.fixture
def setup(editor: Editor, isolated: Path, tmp_path: Path) -> tuple[Editor, Path, Path]:
    got = tmp_path / "got.txt"
    loop = f'while IFS= read -r l; do printf "%s\\n" "$l" >> {got}; echo "claude read it"; done'
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(
        config.read_text()
        + f"\n[agents.claude]\ncommand = {json.dumps(['sh', '-c', loop])}\n"
        + 'transport = "terminal"\n'
    )
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "app.py").write_text("".join(f"line {n}\n" for n in range(1, 31)))
    (project / "README.md").write_text("hello\n")
    editor.cmd("cd " + str(project))
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    editor.cmd("Orchflow agent new ai claude")
    editor.wait_notify(r"agent claude-1", timeout=30)
    return editor, project, got


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_placeholders_become_claude_references_in_the_pane(
    setup: tuple[Editor, Path, Path], private_tmux: TmuxServer
) -> None:
    ed, _, got = setup
    ed.cmd("edit README.md")
    ed.cmd("edit src/app.py")
    ed.cmd("12")
    ed.lua(
        """local ns = vim.api.nvim_create_namespace('test')
        vim.diagnostic.set(ns, 0, {
          { lnum = 4, col = 0, severity = vim.diagnostic.severity.ERROR, message = 'bad\\nthing' },
          { lnum = 9, col = 0, severity = vim.diagnostic.severity.WARN, message = 'meh' },
        })
        vim.fn.setqflist({ { filename = 'src/app.py', lnum = 7, text = 'E1 failed here' } })"""
    )
    ed.cmd("Orchflow ask claude-1 explain {file} at {line}")
    ed.wait_notify(r"asked claude-1: explain @src/app.py at @src/app.py#L12", timeout=15)
    ed.cmd("Orchflow ask claude-1 fix {diagnostics}")
    ed.cmd("Orchflow ask claude-1 see {quickfix} in {buffers}")
    ed.wait_until(lambda: len(lines_of(got)) == 3, timeout=15)
    assert lines_of(got) == [
        "explain @src/app.py at @src/app.py#L12",
        "fix @src/app.py#L5 error: bad thing; @src/app.py#L10 warning: meh",
        "see @src/app.py#L7 E1 failed here in @README.md @src/app.py",
    ]
    # The pane shows it too: the bytes were typed into the agent's TUI and submitted.
    panes = private_tmux.run("list-panes", "-a", "-F", "#{pane_id}").split()
    screen = "".join(private_tmux.run("capture-pane", "-p", "-J", "-t", p) for p in panes)
    assert "explain @src/app.py at @src/app.py#L12" in screen and "claude read it" in screen


def test_visual_map_fills_the_selection_and_routing_still_works(
    setup: tuple[Editor, Path, Path], private_tmux: TmuxServer
) -> None:
    ed, _, got = setup
    ed.cmd("edit src/app.py")
    ed.lua("vim.keymap.set('x', '<F5>', '<Plug>(orchflow-ask)', { remap = true })")
    ed.lua("vim.ui.input = function(opts, cb) _G.__prompt = opts.prompt; cb('claude-1 review') end")
    ed.cmd("10")
    ed.nv.input("Vjjj<F5>")
    ed.wait_until(lambda: len(lines_of(got)) == 1, timeout=15)
    assert lines_of(got) == ["review @src/app.py#L10-13"]
    assert "lines 10-13" in ed.lua("return _G.__prompt")
    assert ed.nv.api.get_mode()["mode"] == "n"
    # {selection} without one: a clear error, nothing sent.
    ed.cmd("Orchflow ask claude-1 look at {selection}")
    ed.wait_notify(r"\{selection\} needs a selection", timeout=10)
    # No agent of that name: the request is routed as before (the float).
    ed.cmd("Orchflow ask nobody run the tests")
    f = ed.wait_until(
        lambda: next((f for f in ed.floats() if f["title"] and "orchflow ask" in f["title"]), None),
        timeout=15,
    )
    assert "Request     nobody run the tests" in "\n".join(f["lines"])
    assert lines_of(got) == ["review @src/app.py#L10-13"]


def test_active_mode_adds_its_context_and_preamble(
    setup: tuple[Editor, Path, Path], private_tmux: TmuxServer
) -> None:
    ed, _, got = setup
    ed.cmd("edit src/app.py")
    ed.cmd("Orchflow mode docs")  # context {file} {selection}: the selection is skipped
    ed.wait_notify(r"mode docs on", timeout=15)
    ed.cmd("Orchflow ask claude-1 document this")
    ed.wait_until(lambda: len(lines_of(got)) == 1, timeout=15)
    line = lines_of(got)[0]
    assert line.startswith("Mode: documentation. Write for the reader")
    assert line.endswith("do not change behaviour. document this @src/app.py")
