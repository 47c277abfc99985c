"""The two swarm transition tables (orchestrator/swarm/states.py): every allowed move, and
a move a state does not allow is a ConflictError naming both."""

from __future__ import annotations

import pytest

from orchestrator.swarm.states import (
    SwarmEvent,
    SwarmState,
    TaskEvent,
    TaskState,
    swarm_transition,
    task_transition,
)
from orchflow_core.errors import ConflictError

P, R, B = TaskState.PENDING, TaskState.RUNNING, TaskState.BACKOFF


def test_a_task_runs_retries_and_ends() -> None:
    assert task_transition(P, TaskEvent.START) is R
    assert task_transition(R, TaskEvent.RETRY) is B
    assert task_transition(B, TaskEvent.START) is R
    assert task_transition(R, TaskEvent.SUCCEED) is TaskState.SUCCEEDED
    assert task_transition(R, TaskEvent.FAIL) is TaskState.FAILED
    assert task_transition(R, TaskEvent.LOSE) is TaskState.LOST
    assert task_transition(P, TaskEvent.SKIP) is TaskState.SKIPPED
    for state in (P, R, B):
        assert task_transition(state, TaskEvent.CANCEL) is TaskState.CANCELLED
    assert [s for s in TaskState if not s.final] == [P, R, B]


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (TaskState.SUCCEEDED, TaskEvent.START),  # a finished task never runs again
        (TaskState.LOST, TaskEvent.RETRY),
        (P, TaskEvent.SUCCEED),
        (B, TaskEvent.SKIP),
    ],
)
def test_a_move_a_task_state_does_not_allow_is_refused(state: TaskState, event: TaskEvent) -> None:
    with pytest.raises(ConflictError, match=f"a task that is {state.value} cannot {event.value}"):
        task_transition(state, event)


def test_a_swarm_ends_once() -> None:
    running = SwarmState.RUNNING
    assert swarm_transition(running, SwarmEvent.SUCCEED) is SwarmState.SUCCEEDED
    assert swarm_transition(running, SwarmEvent.FAIL) is SwarmState.FAILED
    assert swarm_transition(running, SwarmEvent.CANCEL) is SwarmState.CANCELLED
    with pytest.raises(ConflictError, match="a swarm that is failed cannot cancel"):
        swarm_transition(SwarmState.FAILED, SwarmEvent.CANCEL)
