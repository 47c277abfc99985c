"""The AI agent lifecycle table (orchestrator/agents/state.py): pure, no processes."""

from __future__ import annotations

import pytest

from orchestrator.agents.state import FINAL, AgentEvent, AgentState, transition
from orchflow_core.errors import ConflictError

S, E = AgentState, AgentEvent


def test_a_turn_with_a_question() -> None:
    state = S.STARTING
    for event, expected in [
        (E.READY, S.IDLE),
        (E.PROMPT, S.WORKING),
        (E.ASK, S.NEEDS_INPUT),
        (E.ANSWERED, S.WORKING),
        (E.TURN_END, S.IDLE),
    ]:
        state = transition(state, event)
        assert state is expected


@pytest.mark.parametrize("state", [S.STARTING, S.IDLE, S.WORKING, S.NEEDS_INPUT])
def test_every_live_state_can_exit_or_fail(state: AgentState) -> None:
    assert transition(state, E.EXIT) is S.EXITED
    assert transition(state, E.FAIL) is S.ERROR


@pytest.mark.parametrize("final", sorted(FINAL))
@pytest.mark.parametrize("event", list(AgentEvent))
def test_final_states_are_final(final: AgentState, event: AgentEvent) -> None:
    with pytest.raises(ConflictError, match=f"an agent that is {final.value} cannot"):
        transition(final, event)


def test_no_prompt_before_the_session_is_open() -> None:
    with pytest.raises(ConflictError, match="starting cannot prompt"):
        transition(S.STARTING, E.PROMPT)
