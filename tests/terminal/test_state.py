"""The pane lifecycle table."""

from __future__ import annotations

import pytest

from orchflow_core.errors import ConflictError
from orchflow_core.terminal.state import PaneEvent, PaneState, transition


def test_a_run_goes_running_then_idle() -> None:
    s = transition(PaneState.IDLE, PaneEvent.RUN)
    assert s is PaneState.RUNNING
    assert transition(s, PaneEvent.FINISHED) is PaneState.IDLE


def test_exit_and_close() -> None:
    assert transition(PaneState.RUNNING, PaneEvent.EXIT) is PaneState.EXITED
    assert transition(PaneState.EXITED, PaneEvent.CLOSE) is PaneState.CLOSED


def test_closed_is_final() -> None:
    for event in (PaneEvent.RUN, PaneEvent.FINISHED, PaneEvent.EXIT, PaneEvent.REVIVE):
        with pytest.raises(ConflictError, match="a pane that is closed cannot"):
            transition(PaneState.CLOSED, event)


def test_an_exited_pane_cannot_run() -> None:
    with pytest.raises(ConflictError, match="exited cannot run"):
        transition(PaneState.EXITED, PaneEvent.RUN)
