"""A terminal AI agent's "needs input" in Neovim: a real headless Neovim, its host, the
sidecar orchestrator and the fake Claude Code CLI (a stand-in for the paid-model CLI that
calls its hooks as Claude documents: tests/orchestrator/tui/fake_cli.py)."""

from __future__ import annotations

from pathlib import Path

from tests.harness.editor import Editor
from tests.harness.hidden import path_without
from tests.harness.tmux import TmuxServer
from tests.orchestrator.tui.conftest import agents_toml

# vim.ui.select as a picker plugin would replace it: records what it was asked, answers
# with the item the test chose (nil: dismissed).
STUB_SELECT = """
_G.asked = {}
vim.ui.select = function(items, opts, on_choice)
  table.insert(_G.asked, { prompt = opts.prompt, items = items, kind = opts.kind })
  for _, item in ipairs(items) do
    if item == _G.choose then return on_choice(item) end
  end
  on_choice(nil)
end
"""


def _outside_git(ed: Editor, isolated: Path) -> None:
    """Start agents in a directory that is no git repository: in the checkout an AI agent
    would get a worktree and branch of orchflow's own repository ([worktree] ai)."""
    work = isolated / "work"
    work.mkdir(exist_ok=True)
    ed.cmd("cd " + str(work))


def _agent(ed: Editor, name: str) -> dict | None:
    return ed.lua(
        """
        local name = ...
        _G.agents = _G.agents or {}
        require('orchflow.host').call('agent.get', { id = name }, function(err, a)
          _G.agents[name] = a
        end)
        return _G.agents[name]
        """,
        name,
    )


def test_needs_input_notice_names_agent_and_question_waits_for_typing_and_opens_the_pane(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + "\n" + agents_toml())
    ed = editor
    _outside_git(ed, isolated)
    ed.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    ed.capture_notify()
    ed.lua(STUB_SELECT)
    ed.lua("_G.choose = 'Open its pane'")
    ed.cmd("Orchflow agent new ai claude")
    ed.wait_notify(r"agent claude-1 \(claude, terminal\)", timeout=20)
    ed.wait_until(lambda: (_agent(ed, "claude-1") or {}).get("state") == "idle", timeout=15)

    ed.nv.input("ifoo")  # the user is typing
    ed.wait_until(lambda: ed.nv.api.get_mode()["mode"] == "i")
    ed.lua(
        "require('orchflow.host').call('agent.prompt', { id = 'claude-1', text = ... })",
        "ask: rm -rf build",
    )
    ed.wait_until(lambda: len(ed.lua("return require('orchflow.ai').waiting()")) == 1, timeout=15)
    assert ed.lua("return #_G.asked") == 0  # not while typing
    assert ed.nv.api.get_mode()["mode"] == "i"
    assert "?1" in ed.lua("return require('orchflow.statusline').get()")

    ed.nv.input("<Esc>")
    asked = ed.wait_until(lambda: ed.lua("return _G.asked[1]"), timeout=5)
    assert asked["prompt"] == "claude-1 asks: Bash: rm -rf build"
    assert asked["items"] == ["Open its pane", "Later"]
    ed.wait_notify(r"orchflow: claude-1 needs input: Bash: rm -rf build")
    assert ed.lua("return vim.api.nvim_get_current_line()") == "foo"  # no key was taken

    ed.cmd("Orchflow agent list")  # the question shows in the list too
    rows = ed.wait_until(
        lambda: next((f["lines"] for f in ed.floats() if f["title"] == " orchflow agents "), None)
    )
    row = next(line for line in rows if line.startswith("claude-1"))
    assert row.split()[1:4] == ["claude", "terminal", "needs_input"]
    assert row.endswith("asks: Bash: rm -rf build")
    pane_id = _agent(ed, "claude-1")["pane_id"]  # "Open its pane": a tmux client in a split
    ed.wait_until(
        lambda: (
            "Do you want to proceed?"
            in ed.lua(
                """
            for _, b in ipairs(vim.api.nvim_list_bufs()) do
              if vim.b[b].orchflow_pane == ... then
                return table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), "\\n")
              end
            end
            return ""
            """,
                pane_id,
            )
        ),
        timeout=10,
    )


def test_checkhealth_says_how_each_terminal_agent_gets_its_state(
    editor: Editor, isolated: Path
) -> None:
    editor.lua("vim.env.PATH = ...", path_without(("claude", "claude-agent-acp"), isolated))
    editor.cmd("checkhealth orchflow")
    text = "\n".join(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert "claude not installed (not on PATH: acp: claude-agent-acp, terminal: claude)" in text
    assert "terminal state: hooks (claude-settings)" in text
    assert "goose not installed" in text and "terminal state: patterns and quiescence" in text


def test_later_then_agent_answer_opens_the_pane(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.write_text(config.read_text() + "\n" + agents_toml())
    ed = editor
    _outside_git(ed, isolated)
    ed.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    ed.capture_notify()
    ed.lua(STUB_SELECT)
    ed.lua("_G.choose = 'Later'")
    ed.cmd("Orchflow agent new ai gemini")
    ed.wait_notify(r"agent gemini-1 \(gemini, terminal\)", timeout=20)
    ed.wait_until(lambda: (_agent(ed, "gemini-1") or {}).get("state") == "idle", timeout=15)
    ed.cmd("Orchflow agent prompt gemini-1 ask: make test")
    ed.wait_notify(r"orchflow: gemini-1 still waits: :Orchflow agent answer gemini-1", timeout=15)
    assert ed.lua("return _G.asked[1].prompt") == "gemini-1 asks: Allow execution of: make test?"
    ed.cmd("Orchflow agent answer gemini-1")
    pane_id = _agent(ed, "gemini-1")["pane_id"]
    ed.wait_until(
        lambda: (
            "Do you want to proceed?"
            in ed.lua(
                """
            for _, b in ipairs(vim.api.nvim_list_bufs()) do
              if vim.b[b].orchflow_pane == ... then
                return table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), "\\n")
              end
            end
            return ""
            """,
                pane_id,
            )
        ),
        timeout=10,
    )
