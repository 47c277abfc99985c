"""setup(): deep merge over defaults and a clear error for every bad field."""

from __future__ import annotations

import pynvim
import pytest

from tests.harness.editor import Editor


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
            'unknown option "floot"; valid here: float, host, keymaps, log, orchestrator',
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
