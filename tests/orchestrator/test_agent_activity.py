"""An agent's activity: derived from the pane's state and its last output, no state table."""

from __future__ import annotations

from orchestrator.agents import activity
from orchflow_core.terminal.state import PaneState


def test_active_within_the_window_quiet_after_none_once_ended() -> None:
    def at(state: PaneState, last: float | None, now: float) -> str | None:
        return activity(state, last, now, idle_after_s=1.0)

    assert at(PaneState.IDLE, 10.0, 10.5) == "active"
    assert at(PaneState.IDLE, 10.0, 11.0) == "quiet"
    assert at(PaneState.RUNNING, 10.0, 10.1) == "active"
    assert at(PaneState.IDLE, None, 10.0) == "quiet"
    assert at(PaneState.EXITED, 10.0, 10.1) is None
    assert at(PaneState.CLOSED, 10.0, 10.1) is None
