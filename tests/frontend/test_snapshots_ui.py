""":Orchflow template snapshot / snapshots / restore in a real headless Neovim, against a
private tmux server that is killed between the snapshot and the restore."""

from __future__ import annotations

from pathlib import Path

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def test_snapshot_kill_tmux_and_restore(
    editor: Editor, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    f = tmp_path / "snap.yaml"
    f.write_text(
        "session_name: snapui\nwindows:\n  - window_name: one\n"
        f"    start_directory: {tmp_path / 'a'}\n    panes:\n      - echo hi\n      - echo there\n"
    )
    editor.capture_notify()
    editor.cmd(f"Orchflow template apply {f}")
    editor.wait_notify("created 1 window", timeout=15)
    editor.cmd("Orchflow template snapshot")
    assert "snapui (1 window(s), 2 pane(s))" in editor.wait_notify("snapshot of", timeout=15)
    editor.cmd("Orchflow template snapshots")

    def shown() -> list[str] | None:
        for fl in editor.floats():
            if fl["title"] and "orchflow snapshots" in fl["title"]:
                return list(fl["lines"])
        return None

    lines = editor.wait_until(shown, timeout=15)
    assert "periodic snapshots are off" in lines[0]
    assert any("snapui" in x and "1 window(s), 2 pane(s)" in x for x in lines[1:])
    editor.cmd("close")
    private_tmux.kill()
    editor.cmd("Orchflow template restore snapui")
    try:
        msg = editor.wait_notify("restored", timeout=20)
    except AssertionError:
        raise AssertionError(editor.notifications()) from None
    assert "snapui from snapshot" in msg and "created 1 window(s), 2 pane(s)" in msg
    panes = private_tmux.run("list-panes", "-s", "-t", "=snapui:", "-F", "#{pane_current_path}")
    assert [Path(p).name for p in panes.split()] == ["a", "a"]
    editor.assert_not_blocked()
