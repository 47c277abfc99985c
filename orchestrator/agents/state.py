"""An AI agent's lifecycle: every state and transition in one table (h11 style).

    starting ──ready──▶ idle ──prompt──▶ working ──ask──▶ needs_input
                         ▲                 │  ▲               │
                         └────turn_end─────┘  └───answered────┘
                         ▲                                    │
                         └──────────────turn_end──────────────┘
    any live state ──exit──▶ exited          (the process ended on its own or was stopped)
    any live state ──fail──▶ error           (it broke the protocol, crashed, never answered)

``exited`` and ``error`` are final. Each change carries its ``source``: ``acp`` (the
protocol said so: a turn's end, a permission request), ``hook`` (a vendor hook), ``pattern``
(a screen pattern), ``quiet`` (no output for a while), ``process`` (the process started or
ended). Nothing else mutates an agent's state: callers ask ``transition(state, event)``.
"""

from __future__ import annotations

from enum import StrEnum

from orchflow_core.errors import ConflictError


class AgentState(StrEnum):
    STARTING = "starting"
    WORKING = "working"
    NEEDS_INPUT = "needs_input"
    IDLE = "idle"
    EXITED = "exited"
    ERROR = "error"


class AgentEvent(StrEnum):
    READY = "ready"  # the session is open
    PROMPT = "prompt"  # a turn started
    ASK = "ask"  # the agent asks the user (a permission request)
    ANSWERED = "answered"  # the user answered, or the question was withdrawn
    TURN_END = "turn_end"  # the turn ended (any stop reason)
    EXIT = "exit"
    FAIL = "fail"


SOURCES = ("acp", "hook", "pattern", "quiet", "process")
FINAL = frozenset({AgentState.EXITED, AgentState.ERROR})

S, E = AgentState, AgentEvent
_TABLE: dict[tuple[AgentState, AgentEvent], AgentState] = {
    (S.STARTING, E.READY): S.IDLE,
    (S.IDLE, E.PROMPT): S.WORKING,
    (S.WORKING, E.PROMPT): S.WORKING,  # a turn queued behind another
    (S.NEEDS_INPUT, E.PROMPT): S.NEEDS_INPUT,
    (S.WORKING, E.ASK): S.NEEDS_INPUT,
    (S.NEEDS_INPUT, E.ASK): S.NEEDS_INPUT,  # a second question while one is open
    (S.NEEDS_INPUT, E.ANSWERED): S.WORKING,
    (S.WORKING, E.ANSWERED): S.WORKING,
    (S.WORKING, E.TURN_END): S.IDLE,
    (S.NEEDS_INPUT, E.TURN_END): S.IDLE,
    (S.IDLE, E.TURN_END): S.IDLE,
}
for _live in (S.STARTING, S.IDLE, S.WORKING, S.NEEDS_INPUT):
    _TABLE[(_live, E.EXIT)] = S.EXITED
    _TABLE[(_live, E.FAIL)] = S.ERROR
del _live


def transition(state: AgentState, event: AgentEvent) -> AgentState:
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise ConflictError(
            f"an agent that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None


def route(state: AgentState, target: AgentState) -> list[AgentEvent]:
    """The shortest run of events that takes ``state`` to ``target`` through the table
    ([] if already there; ConflictError if the table has no way). A terminal agent's
    sources (hooks, patterns, quiescence) observe where the agent *is*, not the events
    on the way: ``starting`` seen ``needs_input`` went ready, prompt, ask."""
    if state is target:
        return []
    paths: dict[AgentState, list[AgentEvent]] = {state: []}
    frontier = [state]
    while frontier:
        nxt: list[AgentState] = []
        for here in frontier:
            for (src, event), dst in _TABLE.items():
                if src is here and dst not in paths:
                    paths[dst] = [*paths[here], event]
                    if dst is target:
                        return paths[dst]
                    nxt.append(dst)
        frontier = nxt
    raise ConflictError(
        f"an agent that is {state.value} cannot become {target.value}",
        state=state.value,
        target=target.value,
    )
