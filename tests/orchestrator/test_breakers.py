"""Circuit breakers: every transition with an injected clock; the agent.spawn breaker in
front of a real tmux, and in a real orchestrator process (system.health, /metrics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.agents import AgentManager
from orchestrator.coordination.breakers import (
    _TABLE,
    BreakerEvent,
    BreakerPolicy,
    BreakerRegistry,
    BreakerState,
    CircuitBreaker,
    transition,
)
from orchflow_core.core import Core
from orchflow_core.errors import ConflictError, TmuxUnavailableError, UnavailableError
from orchflow_core.terminal.manager import TerminalManager
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess, server_env
from tests.rpc.wire import http_get


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, threshold: int = 3) -> CircuitBreaker:
    return CircuitBreaker(
        "test", BreakerPolicy(failure_threshold=threshold, window_s=10, cooldown_s=5), clock=clock
    )


def test_closed_opens_after_n_failures_within_the_window() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failure("one")
    clock.now += 11  # out of the window: forgotten
    b.failure("two")
    b.failure("three")
    assert b.state is BreakerState.CLOSED
    b.check()
    b.failure("four")  # three within 10 s
    assert b.state is BreakerState.OPEN
    with pytest.raises(UnavailableError, match=r"'test' is open after 3 failures .*last: four"):
        b.check()
    assert b.snapshot()["rejected"] == 1 and b.snapshot()["retry_in_s"] == 5.0


def test_half_open_after_the_cool_down_then_closed_on_success() -> None:
    clock = Clock()
    b = breaker(clock, threshold=1)
    b.failure("boom")
    clock.now += 4.9
    with pytest.raises(UnavailableError, match=r"tries again in 0\.1 s"):
        b.check()
    clock.now += 0.1
    assert b.snapshot()["state"] == "half_open"
    b.check()  # the one trial call
    assert b.state is BreakerState.HALF_OPEN
    with pytest.raises(UnavailableError, match="a trial call is in progress"):
        b.check()
    b.success()
    assert b.state is BreakerState.CLOSED
    b.check()


def test_a_failure_in_half_open_opens_again_with_a_new_cool_down() -> None:
    clock = Clock()
    b = breaker(clock, threshold=1)
    b.failure("boom")
    clock.now += 5
    b.check()
    b.failure("still broken")
    assert b.state is BreakerState.OPEN and b.retry_in() == 5.0
    assert b.snapshot()["opens"] == 2
    b.release()  # a release says nothing: still open
    assert b.state is BreakerState.OPEN


def test_the_table_is_the_only_way_to_change_state() -> None:
    assert transition(BreakerState.CLOSED, BreakerEvent.TRIP) is BreakerState.OPEN
    with pytest.raises(ConflictError, match="a breaker that is closed cannot cool_down"):
        transition(BreakerState.CLOSED, BreakerEvent.COOL_DOWN)
    assert (BreakerState.HALF_OPEN, BreakerEvent.SUCCESS) in _TABLE


def test_registry_reports_problems_for_health() -> None:
    clock = Clock()
    reg = BreakerRegistry(
        {"x": ("the x service", BreakerPolicy(failure_threshold=1, cooldown_s=1))}, clock=clock
    )
    assert reg.problems() == []
    reg["x"].failure("refused")
    assert reg.problems() == ["breaker x: open (last failure: refused)"]
    assert reg.snapshot()["x"]["guards"] == "the x service"


async def test_agent_spawn_breaker_in_front_of_a_real_tmux(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    """The terminals getter fails as the orchestrator's does when tmux cannot start, then
    hands out a real TerminalManager (the private tmux server)."""
    clock = Clock()
    core = Core({}, project_root=isolated)
    fail = {"left": 2}

    async def terminals() -> TerminalManager:
        if fail["left"]:
            fail["left"] -= 1
            raise TmuxUnavailableError("tmux server not answering")
        return await core.terminals()

    spawn = CircuitBreaker(
        "agent.spawn", BreakerPolicy(failure_threshold=2, window_s=60, cooldown_s=30), clock=clock
    )
    agents = AgentManager(terminals, isolated, breaker=spawn)
    try:
        for _ in range(2):
            with pytest.raises(TmuxUnavailableError):
                await agents.create("custom", command="cat")
        with pytest.raises(UnavailableError, match=r"circuit breaker 'agent\.spawn' is open"):
            await agents.create("custom", command="cat")
        assert fail["left"] == 0  # the open breaker did not even try
        clock.now += 30
        agent = await agents.create("custom", command="cat", name="after-cooldown")
        assert agent["state"] == "idle" and spawn.state is BreakerState.CLOSED
        assert "after-cooldown" in private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_name}")
        # a caller's mistake neither counts nor holds the half-open trial
        with pytest.raises(ConflictError):
            await agents.create("custom", command="cat", name="after-cooldown")
        assert spawn.snapshot()["failures"] == 0
    finally:
        await core.close()


async def test_an_open_breaker_shows_in_health_and_metrics(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    base = tmp_path / "home"
    env = server_env(base, private_tmux.socket)
    config = Path(env["ORCHFLOW_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[tmux]\nbinary = "/nonexistent/tmux"\n')
    server = await OrchestratorProcess.start(base, private_tmux.socket, env=env)
    try:
        async with await server.client() as client:
            for _ in range(5):  # agent.spawn opens after 5 failures within 60 s
                with pytest.raises(UnavailableError, match="tmux not found"):
                    await client.call("agent.create", {"type": "custom", "command": "cat"})
            with pytest.raises(UnavailableError, match=r"circuit breaker 'agent\.spawn' is open"):
                await client.call("agent.create", {"type": "custom", "command": "cat"})
            health = await client.call("system.health")
            spawn = health["breakers"]["agent.spawn"]
            assert spawn["state"] == "open" and spawn["rejected"] == 1
            assert "tmux not found" in spawn["last_failure"]
            assert any(p.startswith("breaker agent.spawn: open") for p in health["problems"])
        status, body = await http_get(
            server.port,
            [f"Host: 127.0.0.1:{server.port}", f"Authorization: Bearer {server.token}"],
            path="/metrics",
            upgrade=False,
        )
        text = body.decode()
        assert status == 200
        assert 'orchflow_orchestrator_breaker_state{breaker="agent.spawn",state="open"} 1.0' in text
        assert 'orchflow_orchestrator_breaker_opens_total{breaker="agent.spawn"} 1.0' in text
        assert "orchflow_orchestrator_locks_held 0.0" in text
    finally:
        await server.stop()


def test_reset_closes_an_open_breaker_and_add_names_one_at_run_time() -> None:
    clock = Clock()
    reg = BreakerRegistry({}, clock=clock)
    b = reg.add("mcp.notes", "calls to MCP server 'notes'", BreakerPolicy(failure_threshold=1))
    assert "mcp.notes" in reg and reg.add("mcp.notes", "again", BreakerPolicy()) is b
    b.failure("no answer")
    assert b.state is BreakerState.OPEN
    b.success()  # a late success does not close it ...
    assert b.state is BreakerState.OPEN
    b.reset()  # ... a restart on request does
    assert b.state is BreakerState.CLOSED and b.snapshot()["failures"] == 0
    b.check()
    assert reg.snapshot()["mcp.notes"]["guards"] == "calls to MCP server 'notes'"
