"""setup(): deep merge over defaults and a clear error for every bad field."""

from __future__ import annotations

from pathlib import Path

import pynvim
import pytest

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def setup_error(editor: Editor, opts_lua: str) -> str:
    ok, err = editor.lua(f"return {{ pcall(require('orchflow').setup, {opts_lua}) }}")
    assert ok is False
    return str(err)


def test_deep_merge_keeps_unset_defaults(editor: Editor) -> None:
    editor.lua("require('orchflow').setup({ float = { border = 'single' } })")
    opts = editor.lua("return require('orchflow.config').get()")
    assert opts["float"] == {"border": "single", "width": 0.8, "height": 0.7}
    assert opts["tmux"]["socket"] == "orchflow"


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (
            "{ floot = {} }",
            'unknown option "floot"; valid here: agents, ai, executor, float, host, keymaps, log,'
            " mcp, modules,"
            " orchestrator",
        ),
        (
            "{ float = { widht = 3 } }",
            'unknown option "float.widht"; valid here: border, height, width',
        ),
        ("{ float = { width = 'wide' } }", 'float.width: got "wide", expected number, >= 0.1'),
        (
            "{ float = { border = 'fancy' } }",
            'float.border: got "fancy", expected one of "none", "single"',
        ),
        ("{ keymaps = 1 }", "keymaps: got 1, expected boolean"),
        (
            "{ orchestrator = { mode = 'cloud' } }",
            'orchestrator.mode: got "cloud", expected one of "embedded"',
        ),
        ("{ tmux = 'x' }", 'tmux: got "x", expected a table'),
        ("{ float = { width = 0 } }", "float.width: got 0, expected number, >= 0.1"),
        ("{ host = { timeout_s = 0 } }", "host.timeout_s: got 0, expected number, >= 0.1"),
    ],
)
def test_bad_field_is_named(editor: Editor, opts: str, expected: str) -> None:
    err = setup_error(editor, opts)
    assert err.startswith("orchflow.setup: ")
    assert expected in err


def test_bad_setup_keeps_previous_options(editor: Editor) -> None:
    editor.lua("require('orchflow').setup({ float = { border = 'double' } })")
    setup_error(editor, "{ float = { border = 1 } }")
    assert editor.lua("return require('orchflow.config').get().float.border") == "double"


def test_setup_error_surfaces_as_lua_error(editor: Editor) -> None:
    with pytest.raises(pynvim.NvimError, match=r"orchflow\.setup: unknown option"):
        editor.lua("require('orchflow').setup({ nope = true })")


# -- setup() while orchflow runs (:help orchflow-setup-runtime) ----------------------------


def shown_config(editor: Editor) -> list[str]:
    for win in editor.lua("return vim.api.nvim_list_wins()"):
        editor.lua(
            "local w = ... if vim.api.nvim_win_get_config(w).relative ~= '' then "
            "vim.api.nvim_win_close(w, true) end",
            win,
        )
    editor.cmd("Orchflow config")
    floats = editor.wait_until(
        lambda: [f for f in editor.floats() if f["title"] == " orchflow config "]
    )
    return list(floats[0]["lines"])


def test_switching_to_sidecar_at_runtime_works(editor: Editor) -> None:
    editor.capture_notify()
    editor.cmd("Orchflow memory store k v")
    editor.wait_notify("orchestrator is off")
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.cmd("Orchflow memory store k v")
    editor.wait_notify("stored k in default", timeout=15)
    assert 'orchestrator.mode = "sidecar"' in shown_config(editor)


def test_a_new_tmux_socket_at_runtime_rebuilds_the_terminal_manager(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCHFLOW_TMUX_SOCKET", raising=False)
    first, second = TmuxServer(), TmuxServer()
    ed = Editor()
    try:
        ed.lua("require('orchflow').setup({ tmux = { socket = ... } })", first.socket)
        ed.capture_notify()
        ed.cmd("Orchflow pane new build")
        ed.wait_notify(r"\(build\) created", timeout=10)
        ed.lua("require('orchflow').setup({ tmux = { socket = ... } })", second.socket)
        ed.cmd("Orchflow pane new test")
        ed.wait_notify(r"\(test\) created", timeout=10)
        assert first.run("list-panes", "-a", "-F", "#{@orchflow_type}").split() == ["build"]
        assert second.run("list-panes", "-a", "-F", "#{@orchflow_type}").split() == ["test"]
        assert f'tmux.socket = "{second.socket}"' in shown_config(ed)
    finally:
        ed.close()
        first.kill()
        second.kill()


def test_leaving_pty_with_panes_open_is_refused_naming_the_key(editor: Editor) -> None:
    editor.lua("vim.env.SHELL = '/bin/sh'")
    editor.lua("require('orchflow').setup({ terminal = { backend = 'pty' } })")
    editor.capture_notify()
    editor.cmd("Orchflow pane new shell")
    editor.wait_notify(r"pane pty:\d+ .* created", timeout=10)
    editor.lua("require('orchflow').setup({ terminal = { backend = 'tmux' } })")
    msg = editor.wait_notify("cannot change")
    assert "terminal.backend cannot change while pty panes are open" in msg
    assert 'terminal.backend = "pty"' in shown_config(editor)
