""":Orchflow schedule and :Orchflow locks from Neovim, through a real sidecar orchestrator
and a private tmux server."""

from __future__ import annotations

import re

from tests.frontend.test_orchestrator_sidecar import first_need, sidecar_editor
from tests.frontend.test_panes import wait_float
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def test_add_list_run_now_and_history(editor: Editor, private_tmux: TmuxServer) -> None:
    ed = sidecar_editor(editor)
    first_need(
        ed,
        "Orchflow schedule add greet 30 2 * * * echo  hello-from-$((6*7))",
        r"schedule greet \(30 2 \* \* \*, [\w/]+\): next \d{4}-\d\d-\d\d 02:30",
    )
    ed.cmd("Orchflow schedule list")
    lines = wait_float(ed, "orchflow schedules", r"^greet ")
    assert re.search(r"^greet\s+30 2 \* \* \*\s+\S+\s+last never\s+echo  hello", lines[0])
    assert lines[1].startswith("  next: ") and lines[1].count("02:30") == 3
    ed.nv.input("r")  # run now, from the list
    msg = ed.wait_notify(r"schedule greet running in pane %\d+", timeout=15)
    pane = re.search(r"in pane (%\d+)", msg).group(1)  # type: ignore[union-attr]
    ed.wait_until(
        lambda: "hello-from-42" in private_tmux.run("capture-pane", "-p", "-t", pane),
        timeout=15,
    )

    def finished() -> list[str] | None:
        ed.cmd("Orchflow schedule history greet")
        found = wait_float(ed, "schedule: greet", r"run_now")
        ed.cmd("close")
        return found if found[0].startswith("✓ 0") else None

    history = ed.wait_until(finished, timeout=15, step=0.2)
    assert "run_now" in history[0] and re.search(r" r-\w+", history[0])
    ed.cmd("Orchflow schedule remove greet")
    ed.wait_notify("schedule greet removed")


def test_a_bad_cron_is_named_and_locks_list_opens(editor: Editor) -> None:
    ed = sidecar_editor(editor)
    first_need(ed, "Orchflow schedule add bad 61 * * * * true", r"minute field '61'")
    ed.cmd("Orchflow schedule add boot @reboot true")
    ed.wait_notify("'@reboot' is not supported")
    ed.cmd("Orchflow locks")
    wait_float(ed, "orchflow locks", "no locks held and nobody waiting")
