"""The two state machines of swarms, each one transition table.

A task::

    pending ──start──▶ running ──succeed──▶ succeeded
       │                 ├──fail────▶ failed      (non-zero, timed out, could not start;
       │                 │                          no retries left)
       │                 ├──retry───▶ backoff ──start──▶ running   (an attempt failed or
       │                 │                               was lost; retries left)
       │                 ├──lose────▶ lost        (its end was not observed; no retries left)
       │                 └──cancel──▶ cancelled
       ├──skip──▶ skipped   (a dependency did not succeed)
       └──cancel─▶ cancelled            backoff ──cancel──▶ cancelled

A swarm::

    running ──succeed──▶ succeeded   (every task succeeded)
       ├──fail───▶ failed            (every task ended, some did not succeed)
       └──cancel─▶ cancelled
"""

from __future__ import annotations

from enum import StrEnum

from orchflow_core.errors import ConflictError


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    BACKOFF = "backoff"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def final(self) -> bool:
        return self not in (TaskState.PENDING, TaskState.RUNNING, TaskState.BACKOFF)


class TaskEvent(StrEnum):
    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    RETRY = "retry"
    LOSE = "lose"
    CANCEL = "cancel"
    SKIP = "skip"


_TASK: dict[tuple[TaskState, TaskEvent], TaskState] = {
    (TaskState.PENDING, TaskEvent.START): TaskState.RUNNING,
    (TaskState.PENDING, TaskEvent.SKIP): TaskState.SKIPPED,
    (TaskState.PENDING, TaskEvent.CANCEL): TaskState.CANCELLED,
    (TaskState.RUNNING, TaskEvent.SUCCEED): TaskState.SUCCEEDED,
    (TaskState.RUNNING, TaskEvent.FAIL): TaskState.FAILED,
    (TaskState.RUNNING, TaskEvent.RETRY): TaskState.BACKOFF,
    (TaskState.RUNNING, TaskEvent.LOSE): TaskState.LOST,
    (TaskState.RUNNING, TaskEvent.CANCEL): TaskState.CANCELLED,
    (TaskState.BACKOFF, TaskEvent.START): TaskState.RUNNING,
    (TaskState.BACKOFF, TaskEvent.CANCEL): TaskState.CANCELLED,
}


class SwarmState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self is not SwarmState.RUNNING


class SwarmEvent(StrEnum):
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"


_SWARM: dict[tuple[SwarmState, SwarmEvent], SwarmState] = {
    (SwarmState.RUNNING, SwarmEvent.SUCCEED): SwarmState.SUCCEEDED,
    (SwarmState.RUNNING, SwarmEvent.FAIL): SwarmState.FAILED,
    (SwarmState.RUNNING, SwarmEvent.CANCEL): SwarmState.CANCELLED,
}


def task_transition(state: TaskState, event: TaskEvent) -> TaskState:
    try:
        return _TASK[(state, event)]
    except KeyError:
        raise ConflictError(
            f"a task that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None


def swarm_transition(state: SwarmState, event: SwarmEvent) -> SwarmState:
    try:
        return _SWARM[(state, event)]
    except KeyError:
        raise ConflictError(
            f"a swarm that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None
