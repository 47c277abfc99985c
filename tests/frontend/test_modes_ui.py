""":Orchflow mode in a real headless Neovim against the real host (real SQLite state DB):
the modes float with their steps and a broken file named, activation from the float and
by name, `off`, completion, and the statusline drawn on the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness.editor import Editor


@pytest.fixture
def ed(editor: Editor, tmp_path: Path) -> Editor:
    project = tmp_path / "proj"
    modes = project / ".orchflow" / "modes"
    modes.mkdir(parents=True)
    (modes / "pairing.toml").write_text(
        'description = "Pair programming"\nagent_types = ["ai"]\n\n[[steps]]\nname = "talk"\n'
    )
    (modes / "oops.toml").write_text('description = "broken\n')
    editor.cmd("cd " + str(project))
    editor.cmd("set laststatus=2")
    editor.cmd("set statusline=[%{v:lua.require'orchflow.statusline'.get()}]")
    editor.capture_notify()
    return editor


def modes_float(editor: Editor) -> dict[str, Any] | None:
    return next((f for f in editor.floats() if f["title"] and "orchflow modes" in f["title"]), None)


def test_float_lists_modes_with_steps_and_enter_activates(ed: Editor) -> None:
    ed.cmd("Orchflow mode")
    f = ed.wait_until(lambda: modes_float(ed), timeout=15)
    text = "\n".join(f["lines"])
    assert "  tdd         Test-driven development" in text
    assert "1. failing test: Write a test for the behaviour you want (ai)" in text
    assert "5. refactor: Clean up with the tests green; run them again after (ai)" in text
    assert "pairing     Pair programming [ai] (project)" in text
    assert "oops.toml:1: invalid TOML" in text
    screen = ed.screen_text()
    assert "orchflow modes" in screen and "<CR> activate" in screen
    assert "1. requirements: What must hold" in screen and "pairing     Pair programming" in screen
    row = next(i for i, line in enumerate(f["lines"]) if "  tdd  " in line) + 1
    ed.lua("vim.api.nvim_win_set_cursor(0, ...)", [row, 0])
    ed.nv.input("<CR>")
    ed.wait_notify(r"mode tdd on", timeout=10)
    assert modes_float(ed) is None
    ed.wait_until(lambda: "[mode:tdd]" in ed.screen_text(), timeout=10)
    # The float marks the active mode.
    ed.cmd("Orchflow mode")
    f = ed.wait_until(lambda: modes_float(ed), timeout=10)
    assert any(line.startswith("* tdd") for line in f["lines"]) and "(tdd)" in f["title"]
    ed.nv.input("o")
    ed.wait_notify(r"mode tdd off", timeout=10)
    ed.wait_until(lambda: "[]" in ed.screen_text() and "mode:" not in ed.screen_text())


def test_by_name_off_completion_and_errors(ed: Editor) -> None:
    ed.cmd("Orchflow mode review")
    ed.wait_notify(r"mode review on", timeout=15)
    ed.wait_until(lambda: "[mode:review]" in ed.screen_text(), timeout=10)
    current = ed.lua(
        "return require('orchflow.host').wait('mode.current', { cwd = vim.fn.getcwd() })"
    )
    assert current["name"] == "review" and current["mode"]["rules"] == []
    got = ed.lua("return vim.fn.getcompletion('Orchflow mode ', 'cmdline')")
    assert {"tdd", "debug", "review", "pairing", "off"} <= set(got) and "oops" not in got
    ed.cmd("Orchflow mode nope")
    msg = ed.wait_notify(r"no mode 'nope'", timeout=10)
    assert "tdd" in msg
    ed.cmd("Orchflow mode oops")
    ed.wait_notify(r"oops.toml:1: invalid TOML", timeout=10)
    ed.cmd("Orchflow mode off")
    ed.wait_notify(r"mode review off", timeout=10)
    ed.wait_until(lambda: "mode:" not in ed.screen_text(), timeout=10)


def test_a_mode_active_before_the_host_starts_shows_once_it_has(ed: Editor) -> None:
    """The host reads the active mode after its init has answered (off the first call's
    path); the statusline still shows a mode another process turned on before."""
    import subprocess
    import sys

    project = ed.lua("return vim.fn.getcwd()")
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "import orchflow_core.modes.methods\n"
        "from orchflow_core.api import dispatch\n"
        "from orchflow_core.core import Core\n"
        "async def main():\n"
        "    core = Core(project_root=Path(sys.argv[1]))\n"
        "    ok, out = await dispatch(core, 'mode.activate', {'name': 'debug'})\n"
        "    await core.close()\n"
        "    assert ok, out\n"
        "asyncio.run(main())\n"
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script, project], cwd=repo, check=True, timeout=60)
    assert not ed.lua("return require('orchflow.host').running()")
    assert "mode:" not in ed.screen_text()
    version = ed.lua("return require('orchflow.host').wait('version', {}, 15000)")
    assert version["orchflow_core"]
    ed.wait_until(lambda: "[mode:debug]" in ed.screen_text(), timeout=10)
