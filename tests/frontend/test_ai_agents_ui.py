"""AI agents from Neovim: a real headless Neovim, its host, the sidecar orchestrator it
starts and the scripted ACP agent (a stand-in for a paid model: scripted_agent.py)."""

from __future__ import annotations

from pathlib import Path

from tests.harness.editor import Editor
from tests.harness.hidden import path_without
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import agents_toml

# vim.ui.select as a picker plugin would replace it: records what it was asked, answers
# with the option the test chose.
STUB_SELECT = """
_G.asked = {}
vim.ui.select = function(items, opts, on_choice)
  table.insert(_G.asked, { prompt = opts.prompt, names = vim.tbl_map(function(o)
    return opts.format_item(o) end, items) })
  for _, o in ipairs(items) do
    if o.option_id == _G.choose then return on_choice(o) end
  end
  on_choice(nil)
end
"""


def ai_editor(editor: Editor, isolated: Path) -> Editor:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + "\n" + agents_toml())
    work = isolated / "work"  # not a git repository: no worktree ([worktree] ai)
    work.mkdir(exist_ok=True)
    editor.cmd("cd " + str(work))
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    editor.lua(STUB_SELECT)
    return editor


def test_needs_input_waits_while_typing_then_the_answer_reaches_the_agent(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = ai_editor(editor, isolated)
    ed.lua("_G.choose = 'reject'")
    ed.cmd("Orchflow agent new ai scripted")
    ed.wait_notify(r"agent scripted-1 \(scripted, acp\) starting", timeout=20)
    ed.wait_until(lambda: _state(ed, "scripted-1") == "idle", timeout=15)
    ed.nv.input("ifoo")  # the user is typing
    ed.wait_until(lambda: ed.nv.api.get_mode()["mode"] == "i")
    ed.lua("require('orchflow.host').call('agent.prompt', { id = 'scripted-1', text = 'ask' })")
    ed.wait_until(lambda: _state(ed, "scripted-1") == "needs_input", timeout=15)
    ed.wait_until(lambda: len(ed.lua("return require('orchflow.ai').pending()")) == 1)
    assert ed.lua("return #_G.asked") == 0  # not while typing
    assert "ai 1 ?1" in ed.lua("return require('orchflow.statusline').get()")
    assert ed.nv.api.get_mode()["mode"] == "i"
    ed.nv.input("<Esc>")
    asked = ed.wait_until(lambda: ed.lua("return _G.asked[1]"), timeout=5)
    assert asked["prompt"] == "scripted-1 asks: Delete build/"
    assert asked["names"] == ["Allow once", "Reject"]
    ed.wait_notify(r"orchflow: scripted-1 needs input: Delete build/")
    assert ed.lua("return vim.api.nvim_get_current_line()") == "foo"  # no key was taken
    ed.wait_until(lambda: _state(ed, "scripted-1") == "idle", timeout=15)
    ed.cmd("Orchflow agent output scripted-1")
    f = ed.wait_until(
        lambda: next(
            (f for f in ed.floats() if any("permission=reject" in line for line in f["lines"])),
            None,
        ),
        timeout=10,
    )
    assert f["title"] == " agent: scripted-1 "
    text = "\n".join(f["lines"])
    assert "> ask" in text and "[needs input] Delete build/: Allow once / Reject" in text
    assert "[answered] Delete build/: reject" in text


def test_agent_list_shows_state_and_age_and_output_follows_updates(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    ed = ai_editor(editor, isolated)
    ed.cmd("Orchflow agent new ai scripted")
    ed.wait_notify(r"agent scripted-1 \(scripted, acp\) starting", timeout=20)
    ed.wait_until(lambda: _state(ed, "scripted-1") == "idle", timeout=15)
    ed.cmd("Orchflow agent output scripted-1")
    ed.wait_until(lambda: [f for f in ed.floats() if f["title"] == " agent: scripted-1 "])
    ed.cmd("Orchflow agent prompt scripted-1 hello")
    f = ed.wait_until(
        lambda: next(
            (f for f in ed.floats() if any("Hello there." in line for line in f["lines"])), None
        ),
        timeout=15,
    )
    assert "(thinking) thinking about it" in "\n".join(f["lines"])
    ed.cmd("close")
    ed.wait_until(lambda: _state(ed, "scripted-1") == "idle", timeout=15)
    ed.cmd("Orchflow agent list")
    row = ed.wait_until(
        lambda: next(
            (
                line
                for f in ed.floats()
                if f["title"] == " orchflow agents "
                for line in f["lines"]
                if line.startswith("scripted-1")
            ),
            None,
        )
    )
    assert row.split()[1:4] == ["scripted", "acp", "idle"]  # the agents float
    assert row.split()[4].endswith("s") and row.endswith("Hello there.")


def _state(ed: Editor, name: str) -> str | None:
    return ed.lua(
        """
        local name = ...
        _G.states = _G.states or {}
        require('orchflow.host').call('agent.get', { id = name }, function(err, a)
          _G.states[name] = a and a.state or nil
        end)
        return _G.states[name]
        """,
        name,
    )


def test_checkhealth_lists_which_agents_are_installed(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + "\n" + agents_toml())
    editor.lua("vim.env.PATH = ...", path_without(("claude", "claude-agent-acp"), isolated))
    editor.cmd("checkhealth orchflow")
    text = "\n".join(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert "orchflow: AI agents" in text
    assert "scripted installed: acp: " in text
    assert "claude not installed (not on PATH: acp: claude-agent-acp, terminal: claude)" in text
    assert "WARNING" not in text and "ERROR" not in text


def test_checkhealth_names_a_bad_agent_field(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + '\n[agents.mine]\ncommand = "my-agent"\n')
    editor.cmd("checkhealth orchflow")
    text = "\n".join(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert (
        "agent registry: " in text
        and "agents.mine.command must be a non-empty list of non-empty strings, got 'my-agent'"
        in text
    )


def test_agent_new_ai_completes_registry_names(editor: Editor, isolated: Path) -> None:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + "\n" + agents_toml())
    names = editor.lua("return vim.fn.getcompletion('Orchflow agent new ai ', 'cmdline')")
    assert names[:6] == ["claude", "codex", "gemini", "opencode", "goose", "aider"]
    assert {"scripted", "silent", "tui"} <= set(names)
    assert "ai" in editor.lua("return vim.fn.getcompletion('Orchflow agent new ', 'cmdline')")
