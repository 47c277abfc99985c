"""The agent lifecycle table (pure)."""

from __future__ import annotations

import itertools

from orchestrator.agents import AgentEvent, AgentState, transition

S, E = AgentState, AgentEvent


def test_table_is_total_and_exited_is_terminal() -> None:
    for state, event in itertools.product(S, E):
        new = transition(state, event)
        if state is S.EXITED:
            assert new is S.EXITED


def test_typical_lives() -> None:
    state = S.STARTING
    for event, expected in [
        (E.OUTPUT, S.RUNNING),
        (E.QUIET, S.IDLE),
        (E.OUTPUT, S.RUNNING),
        (E.EXIT, S.EXITED),
    ]:
        state = transition(state, event)
        assert state is expected
    assert transition(S.STARTING, E.QUIET) is S.IDLE  # a silent program waiting for input
