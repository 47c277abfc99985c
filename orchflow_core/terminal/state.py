"""Pane lifecycle: every state and transition in one table (h11 style).

    idle ──run──▶ running ──finished──▶ idle
      │              │
      └──exit──▶ exited ◀──exit──┘         (the pane's process ended; exit code kept)
    any ──close/vanish──▶ closed           (terminal state)

Nothing else mutates a pane's state: callers ask ``transition(state, event)``.
"""

from __future__ import annotations

from enum import StrEnum

from orchflow_core.errors import ConflictError


class PaneState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    EXITED = "exited"
    CLOSED = "closed"


class PaneEvent(StrEnum):
    RUN = "run"
    FINISHED = "finished"
    EXIT = "exit"
    CLOSE = "close"
    REVIVE = "revive"  # a re-attached pane found alive again


_TABLE: dict[tuple[PaneState, PaneEvent], PaneState] = {
    (PaneState.IDLE, PaneEvent.RUN): PaneState.RUNNING,
    (PaneState.RUNNING, PaneEvent.RUN): PaneState.RUNNING,  # a second command queued in the shell
    (PaneState.RUNNING, PaneEvent.FINISHED): PaneState.IDLE,
    (PaneState.IDLE, PaneEvent.FINISHED): PaneState.IDLE,
    (PaneState.IDLE, PaneEvent.EXIT): PaneState.EXITED,
    (PaneState.RUNNING, PaneEvent.EXIT): PaneState.EXITED,
    (PaneState.EXITED, PaneEvent.EXIT): PaneState.EXITED,
    (PaneState.EXITED, PaneEvent.REVIVE): PaneState.IDLE,
    (PaneState.IDLE, PaneEvent.REVIVE): PaneState.IDLE,
    (PaneState.RUNNING, PaneEvent.REVIVE): PaneState.RUNNING,
    (PaneState.IDLE, PaneEvent.CLOSE): PaneState.CLOSED,
    (PaneState.RUNNING, PaneEvent.CLOSE): PaneState.CLOSED,
    (PaneState.EXITED, PaneEvent.CLOSE): PaneState.CLOSED,
    (PaneState.CLOSED, PaneEvent.CLOSE): PaneState.CLOSED,
}


def transition(state: PaneState, event: PaneEvent) -> PaneState:
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise ConflictError(
            f"a pane that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None
