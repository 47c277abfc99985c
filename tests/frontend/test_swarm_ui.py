""":Orchflow swarm from a real headless Neovim, through a real sidecar orchestrator and a
private tmux server: submit a TOML file, watch the float follow the tasks, open a task's
pane, cancel, list; a bad file is named."""

from __future__ import annotations

import re
from pathlib import Path

from tests.frontend.test_orchestrator_sidecar import first_need, sidecar_editor
from tests.frontend.test_panes import float_lines, wait_float
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer

SWARM = """\
name = "ui"
[[tasks]]
id = "quick"
command = "echo swarm-ui-$((40+2))"
[[tasks]]
id = "slow"
command = "sleep 120"
[[tasks]]
id = "after"
command = "echo never"
deps = ["slow"]
"""


def test_submit_watch_open_cancel_and_list(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    (tmp_path / "swarm.toml").write_text(SWARM)
    ed = sidecar_editor(editor)
    msg = first_need(
        ed, f"Orchflow swarm submit {tmp_path / 'swarm.toml'}", r"swarm sw-\w+ submitted: 3"
    )
    swarm_id = re.search(r"(sw-\w+)", msg).group(1)  # type: ignore[union-attr]
    title = f"orchflow swarm {swarm_id}"
    # the float re-reads the swarm by itself: quick ends, slow runs
    lines = wait_float(ed, title, r"^quick\s+✓ 0 ", timeout=15)
    lines = wait_float(ed, title, r"^slow\s+… run ", timeout=15)
    assert lines[0].startswith(f"{swarm_id}  ui  running  1/3 done")
    quick = next(line for line in lines if line.startswith("quick"))
    assert "#1" in quick and "swarm-ui-42" in quick
    after = next(line for line in lines if line.startswith("after"))
    assert "· wait" in after
    slow_row = next(i for i, line in enumerate(lines, 1) if line.startswith("slow"))
    pane = re.search(r" (%\d+) ", lines[slow_row - 1]).group(1)  # type: ignore[union-attr]
    ed.nv.current.window.cursor = (slow_row, 0)
    ed.nv.input("<CR>")  # opens the task's pane in a terminal split
    ed.wait_until(lambda: ed.lua("return vim.b.orchflow_pane") == pane, timeout=10)
    assert ed.lua("return vim.bo.buftype") == "terminal"
    assert "sleep 120" in private_tmux.run("capture-pane", "-p", "-t", pane)
    assert ed.lua("return vim.fn.getcompletion('Orchflow swarm ', 'cmdline')") == [
        "cancel",
        "list",
        "show",
        "submit",
    ]
    assert swarm_id in ed.lua("return vim.fn.getcompletion('Orchflow swarm cancel ', 'cmdline')")
    ed.cmd(f"Orchflow swarm cancel {swarm_id}")
    ed.wait_notify(f"swarm {swarm_id} cancelled", timeout=15)
    ed.cmd("Orchflow swarm list")
    listed = wait_float(ed, "orchflow swarms", swarm_id)
    assert re.search(
        rf"^{swarm_id}\s+cancelled\s+\d+s ago\s+ui\s+cancelled 2, succeeded 1", listed[0]
    )
    ed.nv.input("<CR>")
    lines = wait_float(ed, title, r"^slow\s+⊘ cancel ")
    assert "after" in lines[3] and "⊘ cancel" in lines[3]
    assert not float_lines(ed, "orchflow swarms")
    ed.cmd("checkhealth orchflow")
    health = "\n".join(ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert "swarms: 0 running (:Orchflow swarm" in health, health


def test_a_bad_swarm_file_is_named(editor: Editor, tmp_path: Path) -> None:
    bad = tmp_path / "cycle.json"
    bad.write_text(
        '{"tasks": [{"id": "a", "command": "true", "deps": ["b"]},'
        ' {"id": "b", "command": "true", "deps": ["a"]}]}'
    )
    ed = sidecar_editor(editor)
    first_need(ed, f"Orchflow swarm submit {bad}", r"dependency cycle: a -> b -> a")
    ed.cmd(f"Orchflow swarm submit {tmp_path / 'missing.toml'}")
    ed.wait_notify("cannot read .*missing.toml")
    ed.cmd("Orchflow swarm")
    ed.wait_notify("no swarms yet")


def test_the_float_names_a_ray_tasks_node_where_a_local_one_has_its_pane(editor: Editor) -> None:
    lines = editor.lua(
        "local swarm = require('orchflow.swarm')\n"
        "local tasks = {\n"
        "  { id = 'on-ray', state = 'running', attempts = 1, host = 'worker2' },\n"
        "  { id = 'in-pane', state = 'running', attempts = 1, host = 'local', pane_id = '%7' },\n"
        "  { id = 'prompt', state = 'pending', attempts = 0, host = 'local', pane_id = vim.NIL },\n"
        "  { id = 'asked', state = 'running', attempts = 1, host = 'local', pane_id = vim.NIL,\n"
        "    agent_run = { name = 'pool-claude-3f2a1b', session_id = 's1' } },\n"
        "}\n"
        "return (swarm.render({ swarm_id = 'sw-1', name = 'n', state = 'running', tasks = tasks }))"
    )
    assert re.search(r"^on-ray .* worker2 ", lines[1])
    assert re.search(r"^in-pane .* %7 ", lines[2])
    assert "worker2" not in lines[3] and "local" not in lines[3]
    assert re.search(r"^asked .* pool-claude-3f2a1b", lines[4])  # the pooled agent that ran it
