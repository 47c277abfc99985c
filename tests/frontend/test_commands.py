"""The :Orchflow front door: completion, dispatch, errors, <Plug> maps, keymaps, highlights."""

from __future__ import annotations

import pytest

from tests.harness.editor import Editor

TOP_LEVEL = (
    "agent, ai, ask, browse, config, files, git, health, history, locks, log, mcp, memory, "
    "mode, module, orchestrator, pane, review, rules, run, schedule, search, session, swarm, "
    "template, test, trash, version"
)


def complete(editor: Editor, line: str) -> list[str]:
    return list(editor.lua("return vim.fn.getcompletion(..., 'cmdline')", line))


def test_completion_lists_subcommands(editor: Editor) -> None:
    assert complete(editor, "Orchflow ") == TOP_LEVEL.split(", ")
    assert complete(editor, "Orchflow pane ")[:3] == ["attach", "close", "focus"]
    assert complete(editor, "Orchflow pane new ")[:3] == ["shell", "dev", "test"]
    assert complete(editor, "Orchflow ve") == ["version"]


def test_unknown_subcommand_lists_valid_ones(editor: Editor) -> None:
    editor.capture_notify()
    editor.cmd("Orchflow bogus")
    msg = editor.wait_notify("unknown subcommand")
    assert '"bogus"' in msg
    assert TOP_LEVEL in msg


def test_no_subcommand_says_what_is_needed(editor: Editor) -> None:
    editor.capture_notify()
    editor.cmd("Orchflow")
    assert "needs a subcommand: " + TOP_LEVEL in editor.wait_notify("needs")


def test_startup_loads_nothing_heavy(editor: Editor) -> None:
    loaded = editor.lua(
        "local out = {} for k in pairs(package.loaded) do"
        " if k:match('^orchflow') then out[#out + 1] = k end end table.sort(out) return out"
    )
    # The command table and highlights only: no host, no UI modules, no config schema.
    assert loaded == ["orchflow", "orchflow.commands", "orchflow.config", "orchflow.highlights"]
    assert editor.lua("return require('orchflow.host').running()") is False


def test_plug_maps_exist_for_every_action(editor: Editor) -> None:
    plugs = editor.lua(
        "local out = {} for _, leaf in ipairs(require('orchflow.commands').leaves()) do"
        " if leaf.node.plug then out[#out + 1] = leaf.node.plug end end return out"
    )
    assert plugs
    for plug in plugs:
        assert editor.lua("return vim.fn.maparg(..., 'n')", f"<Plug>({plug})") != ""


def test_default_keymaps_are_opt_in(editor: Editor) -> None:
    assert editor.lua("return vim.fn.maparg('<leader>oL', 'n')") == ""
    editor.lua("require('orchflow').setup({ keymaps = true })")
    assert editor.lua("return vim.fn.maparg('<leader>oL', 'n')") == "<Plug>(orchflow-log)"


def test_keymaps_never_replace_a_user_mapping(editor: Editor) -> None:
    editor.cmd("nnoremap <leader>oL :echo 'mine'<CR>")
    editor.lua("require('orchflow').setup({ keymaps = true })")
    assert "mine" in editor.lua("return vim.fn.maparg('<leader>oL', 'n')")


@pytest.mark.parametrize("scheme", ["blue", "default"])
def test_highlights_are_default_links_that_survive_colorscheme(editor: Editor, scheme: str) -> None:
    editor.cmd(f"colorscheme {scheme}")
    hl = editor.lua("return vim.api.nvim_get_hl(0, { name = 'OrchflowBorder' })")
    assert hl == {"link": "FloatBorder", "default": True}


def test_user_highlight_wins_over_default_link(editor: Editor) -> None:
    editor.cmd("highlight OrchflowTitle guifg=#ff0000")
    editor.lua("require('orchflow.highlights').apply()")
    assert editor.lua("return vim.api.nvim_get_hl(0, { name = 'OrchflowTitle' }).fg") == 0xFF0000
