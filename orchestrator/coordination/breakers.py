"""Circuit breakers: stop calling what keeps failing, try again after a cool-down.

One implementation, every state and transition in one table (h11 style)::

    closed ──trip (failures >= threshold within window_s)──▶ open
    open ──cool_down (cooldown_s passed, checked on the next call)──▶ half_open
    half_open ──success──▶ closed          (the one trial call worked)
    half_open ──failure──▶ open            (it failed: a new cool-down starts)
    closed ──success / failure below the threshold──▶ closed
    any ──reset (someone restarted what it guards: mcp.restart)──▶ closed

In ``half_open`` exactly one trial call goes through; others are refused until it ends.
A refused call is ``UnavailableError`` naming the breaker, its last failure and when it
will try again, so nobody waits on what is known to fail.

Time comes from an injected clock (``clock=``, default ``time.monotonic``), so tests
move it instead of sleeping. Breakers are named and made in one place, ``BreakerRegistry``
(``BREAKERS`` lists what orchflow guards today); ``system.health`` and ``/metrics`` read
``snapshot()``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchflow_core.errors import ConflictError, UnavailableError

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerEvent(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # a failure below the threshold (closed stays closed)
    TRIP = "trip"  # the failure that reaches the threshold
    COOL_DOWN = "cool_down"  # the cool-down passed: let one trial call through
    RESET = "reset"  # what it guards was restarted on request: start afresh


_TABLE: dict[tuple[BreakerState, BreakerEvent], BreakerState] = {
    (BreakerState.CLOSED, BreakerEvent.SUCCESS): BreakerState.CLOSED,
    (BreakerState.CLOSED, BreakerEvent.FAILURE): BreakerState.CLOSED,
    (BreakerState.CLOSED, BreakerEvent.TRIP): BreakerState.OPEN,
    (BreakerState.OPEN, BreakerEvent.COOL_DOWN): BreakerState.HALF_OPEN,
    (BreakerState.HALF_OPEN, BreakerEvent.SUCCESS): BreakerState.CLOSED,
    (BreakerState.HALF_OPEN, BreakerEvent.FAILURE): BreakerState.OPEN,
    (BreakerState.HALF_OPEN, BreakerEvent.TRIP): BreakerState.OPEN,
    # a call that started before the breaker opened may still report its end
    (BreakerState.OPEN, BreakerEvent.SUCCESS): BreakerState.OPEN,
    (BreakerState.OPEN, BreakerEvent.FAILURE): BreakerState.OPEN,
    (BreakerState.OPEN, BreakerEvent.TRIP): BreakerState.OPEN,
    (BreakerState.CLOSED, BreakerEvent.RESET): BreakerState.CLOSED,
    (BreakerState.OPEN, BreakerEvent.RESET): BreakerState.CLOSED,
    (BreakerState.HALF_OPEN, BreakerEvent.RESET): BreakerState.CLOSED,
}


def transition(state: BreakerState, event: BreakerEvent) -> BreakerState:
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise ConflictError(
            f"a breaker that is {state.value} cannot {event.value}",
            state=state.value,
            event=event.value,
        ) from None


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5  # failures within window_s that open the breaker
    window_s: float = 60.0
    cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.window_s <= 0 or self.cooldown_s <= 0:
            raise ValueError(f"bad breaker policy {self!r}")


class CircuitBreaker:
    """``check()`` before the call (raises UnavailableError while open), then
    ``success()`` or ``failure(why)``. Or ``async with breaker.guard():`` ... ."""

    def __init__(self, name: str, policy: BreakerPolicy, *, clock: Clock = time.monotonic) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self.state = BreakerState.CLOSED
        self._failures: deque[float] = deque()  # times of recent failures (closed state)
        self.opened_at: float | None = None
        self.last_failure: str | None = None
        self.trial_in_flight = False
        self.transitions = 0  # how many times the state changed
        self.opens = 0  # how many times it opened
        self.rejected = 0  # calls refused while open

    def _apply(self, event: BreakerEvent) -> None:
        new = transition(self.state, event)
        if new is not self.state:
            log.info("breaker %s: %s -> %s (%s)", self.name, self.state, new, event)
            self.transitions += 1
            if new is BreakerState.OPEN:
                self.opens += 1
                self.opened_at = self._clock()
            self.state = new

    def retry_in(self) -> float | None:
        """Seconds until an open breaker lets a trial call through (None unless open)."""
        if self.state is not BreakerState.OPEN or self.opened_at is None:
            return None
        return max(0.0, self.opened_at + self.policy.cooldown_s - self._clock())

    def check(self) -> None:
        """Let a call through, or raise UnavailableError saying why and until when."""
        if self.state is BreakerState.OPEN and self.retry_in() == 0.0:
            self._apply(BreakerEvent.COOL_DOWN)
        if self.state is BreakerState.CLOSED:
            return
        if self.state is BreakerState.HALF_OPEN and not self.trial_in_flight:
            self.trial_in_flight = True
            return
        self.rejected += 1
        if self.state is BreakerState.HALF_OPEN:
            when = "a trial call is in progress"
        else:
            when = f"it tries again in {self.retry_in() or 0.0:.1f} s"
        raise UnavailableError(
            f"circuit breaker {self.name!r} is {self.state.value} after"
            f" {self.policy.failure_threshold} failures within {self.policy.window_s:g} s"
            f" (last: {self.last_failure}); {when}",
            breaker=self.name,
            state=self.state.value,
            retry_in_s=self.retry_in(),
        )

    def release(self) -> None:
        """The call let through ended in a way that says nothing about the guarded
        thing (a caller's bad argument): a half-open breaker may try again."""
        self.trial_in_flight = False

    def reset(self) -> None:
        """What it guards was restarted on request: closed, its failures forgotten."""
        self.trial_in_flight = False
        self._failures.clear()
        self._apply(BreakerEvent.RESET)

    def success(self) -> None:
        self.trial_in_flight = False
        self._failures.clear()
        self._apply(BreakerEvent.SUCCESS)

    def failure(self, why: str) -> None:
        self.trial_in_flight = False
        self.last_failure = why
        now = self._clock()
        self._failures.append(now)
        while self._failures and self._failures[0] <= now - self.policy.window_s:
            self._failures.popleft()
        if self.state is BreakerState.HALF_OPEN:
            self._apply(BreakerEvent.FAILURE)  # back to open, a new cool-down
            self.opened_at = now
            return
        if len(self._failures) >= self.policy.failure_threshold:
            self._failures.clear()
            self._apply(BreakerEvent.TRIP)
            self.opened_at = now
        else:
            self._apply(BreakerEvent.FAILURE)

    def snapshot(self) -> dict[str, Any]:
        # an open breaker whose cool-down passed reports half_open (the next call is a trial)
        state = self.state
        if state is BreakerState.OPEN and self.retry_in() == 0.0:
            state = BreakerState.HALF_OPEN
        return {
            "state": state.value,
            "failures": len(self._failures),
            "failure_threshold": self.policy.failure_threshold,
            "window_s": self.policy.window_s,
            "cooldown_s": self.policy.cooldown_s,
            "retry_in_s": self.retry_in(),
            "last_failure": self.last_failure,
            "opens": self.opens,
            "rejected": self.rejected,
        }


# Every breaker orchflow has, in one place: name -> (what it guards, policy).
BREAKERS: dict[str, tuple[str, BreakerPolicy]] = {
    "agent.spawn": (
        "agent.create making the agent's pane (tmux)",
        BreakerPolicy(failure_threshold=5, window_s=60.0, cooldown_s=30.0),
    ),
}


class BreakerRegistry:
    """The named breakers of one process, made from ``BREAKERS`` (or ``definitions``)."""

    def __init__(
        self,
        definitions: dict[str, tuple[str, BreakerPolicy]] | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        defs = BREAKERS if definitions is None else definitions
        self._clock = clock
        self.guards = {name: what for name, (what, _) in defs.items()}
        self._breakers = {
            name: CircuitBreaker(name, policy, clock=clock) for name, (_, policy) in defs.items()
        }

    def __getitem__(self, name: str) -> CircuitBreaker:
        return self._breakers[name]

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    def add(self, name: str, guards: str, policy: BreakerPolicy) -> CircuitBreaker:
        """A breaker named at run time (one per configured AI provider, ``provider.<name>``,
        and per MCP server, ``mcp.<name>``); the existing one (and its state) if ``name`` is
        taken."""
        if name not in self._breakers:
            self.guards[name] = guards
            self._breakers[name] = CircuitBreaker(name, policy, clock=self._clock)
        return self._breakers[name]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {
            name: {**b.snapshot(), "guards": self.guards[name]}
            for name, b in sorted(self._breakers.items())
        }

    def problems(self) -> list[str]:
        """One line per breaker that is not closed (for system.health)."""
        out = []
        for name, snap in self.snapshot().items():
            if snap["state"] != BreakerState.CLOSED.value:
                out.append(
                    f"breaker {name}: {snap['state']} (last failure: {snap['last_failure']})"
                )
        return out
