"""A configured MCP server's connection: every state and transition in one table.

    stopped ──start──▶ starting ──ready──▶ ready
       ▲                  │                  │
       │                  fail               fail (connection lost, a crash seen by a call)
       │                  ▼                  ▼
       └──────stop─────  failed  ◀───────────┘     failed ──start──▶ starting (on demand)
    ready/starting/failed ──stop──▶ stopped

A server that is not enabled, or whose config is bad, never gets a connection: it is listed
as ``disabled`` or ``invalid`` (``STATIC``) and nothing is started for it.
"""

from __future__ import annotations

from enum import StrEnum

from orchflow_core.errors import ConflictError


class ServerState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"
    DISABLED = "disabled"
    INVALID = "invalid"


class ServerEvent(StrEnum):
    START = "start"
    READY = "ready"
    FAIL = "fail"
    STOP = "stop"


S, E = ServerState, ServerEvent
_TABLE: dict[tuple[ServerState, ServerEvent], ServerState] = {
    (S.STOPPED, E.START): S.STARTING,
    (S.FAILED, E.START): S.STARTING,
    (S.STARTING, E.READY): S.READY,
    (S.STARTING, E.FAIL): S.FAILED,
    (S.READY, E.FAIL): S.FAILED,
    (S.FAILED, E.FAIL): S.FAILED,
    (S.STARTING, E.STOP): S.STOPPED,
    (S.READY, E.STOP): S.STOPPED,
    (S.FAILED, E.STOP): S.STOPPED,
    (S.STOPPED, E.STOP): S.STOPPED,
    (S.STOPPED, E.FAIL): S.STOPPED,  # a start that was stopped reports its end: still stopped
}
STATIC = frozenset({S.DISABLED, S.INVALID})


def transition(state: ServerState, event: ServerEvent) -> ServerState:
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise ConflictError(
            f"an MCP server that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None
