""":Orchflow module … in a real headless Neovim: the float, enable/disable (the built-in test
runner too), a user module's command, completion and a refused permission."""

from __future__ import annotations

from pathlib import Path

from tests.harness.editor import Editor
from tests.modules.fixtures import module, user_modules
from tests.modules.test_modules import greet


def float_lines(editor: Editor, title: str) -> list[str]:
    def found() -> list[str] | None:
        for f in editor.floats():
            if f["title"] and title in f["title"]:
                return list(f["lines"])
        return None

    return editor.wait_until(found, timeout=15)


def test_module_float_enable_disable_run_and_complete(editor: Editor, tmp_path: Path) -> None:
    greet(user_modules(), fs=["{project}"])
    module(user_modules(), "broken", kind="widget")
    editor.capture_notify()
    editor.cmd("Orchflow module")  # the group alone opens the float, as module list does
    lines = float_lines(editor, "orchflow modules")
    text = "\n".join(lines)
    assert any(line.startswith("enabled   testing") for line in lines)
    assert any(line.startswith("enabled   greet") for line in lines)
    assert "kind: 'widget' is not one of layout, agent, tool, provider" in text
    assert "hello" in text and ":Orchflow module run hello" in text
    editor.cmd("close")
    editor.cmd("Orchflow module bogus")
    assert "valid: disable, enable, info, list, run, trust, untrust" in editor.wait_notify(
        "unknown subcommand"
    )
    names = editor.lua("return vim.fn.getcompletion('Orchflow module enable ', 'cmdline')")
    assert {"testing", "templates", "greet"} <= set(names)
    assert editor.lua("return vim.fn.getcompletion('Orchflow module run ', 'cmdline')") == ["hello"]
    editor.cmd("Orchflow module run hello you")
    assert editor.wait_notify("hello: hello you", timeout=15)
    editor.cmd("Orchflow module disable testing")
    editor.wait_notify("module testing is disabled", timeout=15)
    editor.cmd("Orchflow test all")
    msg = editor.wait_notify("belongs to module 'testing'", timeout=15)
    assert "module enable testing" in msg
    editor.cmd("Orchflow module enable testing")
    editor.wait_notify("module testing is enabled", timeout=15)
    editor.cmd("Orchflow module info greet")
    info = "\n".join(float_lines(editor, "module greet"))
    assert "fs: {project}" in info and "commands: hello" in info
    editor.assert_not_blocked()


def test_checkhealth_names_a_broken_module(editor: Editor) -> None:
    module(user_modules(), "broken", kind="widget")
    editor.cmd("checkhealth orchflow")
    text = "\n".join(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert "templates (builtin, 1.0.0): enabled" in text
    assert "kind: 'widget' is not one of layout, agent, tool, provider" in text


def test_trust_loads_the_projects_modules(editor: Editor, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    greet(project / ".orchflow" / "modules", fs=["{project}"])
    editor.cmd(f"cd {project}")  # before the host starts: the project it opens
    editor.capture_notify()
    editor.cmd("Orchflow module list")
    lines = float_lines(editor, "orchflow modules")
    assert lines[0].startswith(f"project {project}:"), lines
    assert any(line.startswith("untrusted greet (untrusted)") for line in lines), lines
    assert "not trusted (:Orchflow module trust)" in lines[0]
    editor.cmd("close")
    editor.cmd("Orchflow module trust")
    assert "its modules: greet" in editor.wait_notify("trusted", timeout=15)
    editor.cmd("Orchflow module run hello p")
    assert editor.wait_notify("hello: hello p", timeout=15)
