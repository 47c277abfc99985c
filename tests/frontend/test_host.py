"""The Python host: started on first use, never blocking, clear errors when it cannot run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import orchflow_core
from tests.harness.editor import Editor
from tests.harness.host_methods import use_test_methods


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
    assert name.endswith("/log/host.log")
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


def test_an_unwritable_log_dir_is_said_and_the_host_still_works(
    isolated: Path, private_tmux: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0:
        # root writes through mode 0500: make the log dir's place a file instead
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        log_dir = blocker / "log"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        log_dir = locked / "log"
    monkeypatch.setenv("ORCHFLOW_LOG_DIR", str(log_dir))
    ed = Editor()
    try:
        ed.capture_notify()
        ed.cmd("Orchflow version")
        msg = ed.wait_notify("cannot write its log file")
        assert str(log_dir / "host.log") in msg and "ORCHFLOW_LOG_DIR" in msg
        ed.wait_notify(r"^orchflow \d")  # the command itself still answers
    finally:
        ed.close()


def test_host_and_sidecar_write_their_own_log_files(editor: Editor, isolated: Path) -> None:
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    editor.cmd("Orchflow orchestrator start")
    editor.wait_notify("orchestrator running", timeout=15)
    log_dir = isolated / "state" / "orchflow" / "log"
    host_log = (log_dir / "host.log").read_text()
    assert "orchflow core started" in host_log
    assert "sidecar ready" in host_log
    orchestrator_log = log_dir / "orchestrator.log"
    editor.wait_until(lambda: orchestrator_log.exists() and orchestrator_log.read_text())
    assert "orchflow core started" in orchestrator_log.read_text()
    assert "sidecar ready" not in orchestrator_log.read_text()
    assert not (log_dir / "orchflow.log").exists()
    editor.cmd("Orchflow log")
    name = editor.wait_until(lambda: editor.lua("return vim.api.nvim_buf_get_name(0)"))
    assert name == str(log_dir / "host.log")


# -- every call gets one answer ---------------------------------------------------------


def call_and_record(editor: Editor, method: str, params: str = "{}") -> None:
    """host.call(method) from Lua; its (err, result) pairs are appended to _G.__answers."""
    editor.lua(
        f"""_G.__answers = _G.__answers or {{}}
        require('orchflow.host').call(..., {params}, function(err, res)
          table.insert(_G.__answers, {{ err = err or vim.NIL, res = res or vim.NIL }})
        end)""",
        method,
    )


def answers(editor: Editor) -> list[dict[str, Any]]:
    return list(editor.lua("return _G.__answers or {}"))


def test_a_handler_that_raises_a_foreign_exception_answers_with_an_error(editor: Editor) -> None:
    use_test_methods(editor)
    editor.capture_notify()
    editor.cmd("lua require('orchflow.host').call('test.raise', {})")
    msg = editor.wait_notify("internal error")
    assert msg == "orchflow: internal error in test.raise; see :Orchflow log"
    editor.cmd("lua require('orchflow.host').call('test.abort', {})")
    msg = editor.wait_notify("cancelled")
    assert msg == "orchflow: test.abort was cancelled inside orchflow's host; see :Orchflow log"
    for text, _ in editor.notifications():
        assert "secret" not in text and "Traceback" not in text


def test_a_call_with_no_answer_fails_at_its_deadline_and_a_late_answer_is_dropped(
    editor: Editor,
) -> None:
    use_test_methods(editor)
    editor.capture_notify()
    editor.cmd("Orchflow version")  # the host is up (its start is not what is timed here)
    editor.wait_notify(r"^orchflow \d")
    editor.lua("require('orchflow').setup({ host = { timeout_s = 0.5 } })")
    call_and_record(editor, "test.sleep", "{ seconds = 1.5 }")
    editor.lua("require('orchflow.host').call('test.sleep', { seconds = 1.5 })")  # reports
    msg = editor.wait_notify("no answer", timeout=3)
    assert msg == "orchflow: no answer from orchflow's host in 0.5 s (see :Orchflow log)"
    editor.wait_until(lambda: answers(editor))
    assert answers(editor)[0]["err"]["message"] == msg
    time.sleep(1.5)  # the answers come now: dropped, quietly
    assert len(answers(editor)) == 1
    assert [m for m, _ in editor.notifications() if not m.startswith("orchflow 0")] == [msg]
    # the host itself is fine
    call_and_record(editor, "version")
    editor.wait_until(lambda: len(answers(editor)) == 2)
    assert answers(editor)[1]["err"] is None


def test_a_lazy_module_that_fails_to_import_reports_it_on_every_call(editor: Editor) -> None:
    use_test_methods(editor)
    for n in (1, 2):
        call_and_record(editor, "test.broken.first")
        editor.wait_until(lambda n=n: len(answers(editor)) == n)  # type: ignore[misc]
    for answer in answers(editor):
        assert answer["err"]["code"] == -32003
        assert "orchflow_test_dependency_that_is_not_installed" in answer["err"]["message"]
        assert "unknown method" not in answer["err"]["message"]


def test_an_unknown_method_is_method_not_found(editor: Editor) -> None:
    call_and_record(editor, "no.such.method")
    editor.wait_until(lambda: answers(editor))
    err = answers(editor)[0]["err"]
    assert err["code"] == -32601 and err["message"] == "unknown method 'no.such.method'"
