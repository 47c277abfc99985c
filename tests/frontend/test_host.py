"""The Python host: started on first use, never blocking, clear errors when it cannot run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import orchflow_core
from tests.harness.editor import Editor


def test_host_starts_on_first_use_and_answers(editor: Editor) -> None:
    editor.capture_notify()
    assert editor.lua("return require('orchflow.host').running()") is False
    editor.cmd("Orchflow version")
    msg = editor.wait_notify(r"^orchflow \d")
    assert f"core {orchflow_core.__version__}" in msg
    assert sys.executable in msg
    assert editor.lua("return require('orchflow.host').running()") is True


def test_command_returns_before_the_host_answers(editor: Editor) -> None:
    """:Orchflow version returns at once; the answer arrives later as a notification."""
    editor.capture_notify()
    editor.cmd("Orchflow version")
    # The host needs tens of ms to start; the command has already returned.
    assert editor.notifications() == []
    editor.wait_notify(r"^orchflow \d")


@pytest.mark.parametrize(
    "flags",
    [
        ("--cmd", "let g:loaded_python3_provider = 0"),
        ("--cmd", "let g:loaded_remote_plugins = 1"),
    ],
)
def test_works_with_provider_or_rplugin_disabled(
    isolated: Path, tmux_server: object, flags: tuple[str, str]
) -> None:
    ed = Editor(extra=flags)
    try:
        ed.capture_notify()
        ed.cmd("Orchflow version")
        ed.wait_notify(r"^orchflow \d")
    finally:
        ed.close()


def test_interpreter_without_dependencies_gets_one_clear_message(
    editor: Editor, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=60
    )
    editor.capture_notify()
    editor.lua("require('orchflow').setup({ python = ... })", str(bare / "bin" / "python"))
    editor.cmd("Orchflow version")
    msg = editor.wait_notify("lacks")
    assert msg.startswith(f"orchflow: the Python at {bare}")
    assert "pynvim" in msg and "make install" in msg
    assert "Traceback" not in msg
    # one message for the failed call, nothing else (no traceback spam)
    editor.wait_until(lambda: editor.lua("return require('orchflow.host').running()") is False)
    assert len([m for m, _ in editor.notifications() if "lacks" in m]) == 1


def test_missing_interpreter_is_named(editor: Editor) -> None:
    editor.capture_notify()
    editor.lua("require('orchflow').setup({ python = '/nonexistent/python3' })")
    editor.cmd("Orchflow version")
    msg = editor.wait_notify("not found")
    assert '"/nonexistent/python3"' in msg and "make install" in msg


def test_host_crash_fails_pending_calls_and_next_call_restarts(editor: Editor) -> None:
    editor.capture_notify()
    editor.cmd("Orchflow version")
    editor.wait_notify(r"^orchflow \d")
    pid = editor.lua("return vim.fn.jobpid(require('orchflow.host').channel())")
    os.kill(pid, signal.SIGKILL)
    editor.wait_until(lambda: editor.lua("return require('orchflow.host').running()") is False)
    editor.wait_notify("exited with code")
    editor.lua("_G.__orchflow_notes = {}")
    editor.cmd("Orchflow version")
    editor.wait_notify(r"^orchflow \d")


def test_log_opens_the_log_file(editor: Editor, isolated: Path) -> None:
    editor.cmd("Orchflow log")
    name = editor.wait_until(lambda: editor.lua("return vim.api.nvim_buf_get_name(0)"))
    assert name.endswith("orchflow.log")
    assert name.startswith(str(isolated))
    assert any(
        "orchflow core started" in line
        for line in editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    )


def write_config(isolated: Path, text: str) -> Path:
    path = Path(os.environ["ORCHFLOW_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the test tmux config line the harness put there
    keep = path.read_text().split("\n")[1] if path.exists() else ""
    if "[tmux]" in text:
        text = text.replace("[tmux]\n", f"[tmux]\n{keep}\n", 1)
    else:
        text = f"[tmux]\n{keep}\n{text}"
    path.write_text(text)
    return path


def test_config_float_shows_file_and_setup_values(editor: Editor, isolated: Path) -> None:
    write_config(isolated, '[tmux]\nsocket = "fromfile"\n[log]\nlevel = "debug"\n')
    editor.lua(
        "require('orchflow').setup({ log = { level = 'warning' }, float = { border = 'single' } })"
    )
    editor.cmd("Orchflow config")
    floats = editor.wait_until(editor.floats)
    assert floats[0]["title"] == " orchflow config "
    screen = editor.screen_text()
    # in effect: the test's $ORCHFLOW_TMUX_SOCKET; configured: config.toml's
    socket = os.environ["ORCHFLOW_TMUX_SOCKET"]
    assert (
        f'tmux.socket = "{socket}"  ($ORCHFLOW_TMUX_SOCKET; configured: "fromfile")'
        in floats[0]["lines"]
    )
    assert 'log.level = "warning"' in screen  # setup() wins over the file
    assert 'float.border = "single"' in screen
    editor.nv.input("q")
    editor.wait_until(lambda: editor.floats() == [])


def test_bad_toml_is_reported_with_file_and_line(editor: Editor, isolated: Path) -> None:
    path = write_config(isolated, '[tmux]\nsocket = "a"\nbinary = \n')
    editor.capture_notify()
    editor.cmd("Orchflow version")
    msg = editor.wait_notify("invalid TOML")
    assert str(path) in msg and "line 4" in msg
    # orchflow still works on defaults: the call itself answers
    editor.wait_notify(r"^orchflow \d")


def test_unknown_key_in_config_toml_is_named(editor: Editor, isolated: Path) -> None:
    write_config(isolated, '[tmux]\nsockett = "a"\n')
    editor.capture_notify()
    editor.cmd("Orchflow version")
    msg = editor.wait_notify("unknown key")
    assert "'tmux.sockett'" in msg and "valid here: binary, config_file, socket" in msg


def test_lua_only_key_in_config_toml_is_refused(editor: Editor, isolated: Path) -> None:
    write_config(isolated, "[float]\nwidth = 0.5\n")
    editor.capture_notify()
    editor.cmd("Orchflow version")
    assert "set it in setup(), not config.toml" in editor.wait_notify("float.width")
