"""Embedded mode (the default): orchestrator commands say plainly that it is off."""

from __future__ import annotations

import pytest

from tests.harness.editor import Editor


@pytest.mark.parametrize(
    "command",
    [
        "orchestrator start",
        "agent new test",
        "agent list",
        "memory store k v",
        "memory search anything",
        "schedule list",
        "schedule add nightly 30 2 * * * make test",
        "locks",
    ],
)
def test_embedded_mode_says_the_orchestrator_is_off(editor: Editor, command: str) -> None:
    editor.capture_notify()
    editor.cmd(f"Orchflow {command}")
    msg = editor.wait_notify("orchestrator is off")
    assert "mode = 'sidecar'" in msg and "orchflow-orchestrator serve" in msg


def test_status_float_explains_embedded_mode(editor: Editor) -> None:
    editor.cmd("Orchflow orchestrator status")
    floats = editor.wait_until(editor.floats)
    text = "\n".join(floats[0]["lines"])
    assert "mode:     embedded" in text and "state:    off" in text
    assert "Turn it on with" in text
