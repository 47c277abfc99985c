"""Frecency of a command: exponentially decayed, success-weighted run count. Pure math, no I/O.

The formula (for doc/orchflow.txt)::

    frecency(c, now) = sum over runs i of c:  w_i * 2^(-(now - t_i) / h)

    t_i   time of the i-th run of command c (Unix seconds)
    h     half-life, default 7 days (history.half_life_days)
    w_i   1 if the run succeeded (exit code 0) or its exit code is unknown (imported),
          0.25 if it failed (history.failure_weight)

So a run counts fully today, half after one half-life, a quarter after two; a failed run
counts a quarter of a successful one; and running a command more often adds up. Read as
recency x frequency x success: k successful runs all about ``age`` ago give
``k * 2^(-age/h)``, whose log is ``ln k - lambda*age``: log frequency plus a linear decay.

What is stored, so top-N needs no "now" and is an index walk::

    score(c) = ln( sum_i  w_i * e^(lambda * (t_i - E)) )
               lambda = ln 2 / h,  E = 1704067200 (2024-01-01T00:00:00Z)

    frecency(c, now) = e^(score(c) - lambda * (now - E))

The factor ``e^(-lambda*(now - E))`` is the same for every command, so ordering by
``score`` descending is ordering by frecency at any ``now``: an index on ``score`` stays
valid forever. A new run updates the score with a log-sum-exp, which never overflows::

    score <- logaddexp(score, ln w + lambda * (t - E))

The stored score depends on ``h`` and ``w``; changing either means recomputing all scores
from the raw history (HistoryStore does this when it opens with new settings).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

EPOCH = 1_704_067_200.0  # 2024-01-01T00:00:00Z, a fixed origin that keeps scores small
DEFAULT_HALF_LIFE_DAYS = 7.0
DEFAULT_FAILURE_WEIGHT = 0.25
SECONDS_PER_DAY = 86_400.0


def logaddexp(a: float, b: float) -> float:
    """ln(e^a + e^b) without overflow."""
    if a < b:
        a, b = b, a
    return a + math.log1p(math.exp(b - a))


def is_failure(exit_code: int | None) -> bool:
    """Non-zero exit is a failure; None (unknown, e.g. imported shell history) is not."""
    return exit_code is not None and exit_code != 0


@dataclass(frozen=True, slots=True)
class FrecencyModel:
    """The two settings a stored score depends on, and the math on them."""

    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    failure_weight: float = DEFAULT_FAILURE_WEIGHT

    def __post_init__(self) -> None:
        if not (isinstance(self.half_life_days, int | float) and self.half_life_days > 0):
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days!r}")
        if not (isinstance(self.failure_weight, int | float) and 0 < self.failure_weight <= 1):
            raise ValueError(f"failure_weight must be in (0, 1], got {self.failure_weight!r}")

    @property
    def rate(self) -> float:
        """lambda, per second."""
        return math.log(2) / (self.half_life_days * SECONDS_PER_DAY)

    def weight(self, exit_code: int | None) -> float:
        return self.failure_weight if is_failure(exit_code) else 1.0

    def contribution(self, ts: float, exit_code: int | None) -> float:
        """The log-score of one run: ln w + lambda * (t - E)."""
        return math.log(self.weight(exit_code)) + self.rate * (ts - EPOCH)

    def score_of(self, runs: Iterable[tuple[float, int | None]]) -> float:
        """The stored score of a command from its ``(ts, exit_code)`` runs (at least one)."""
        score = -math.inf
        for ts, exit_code in runs:
            score = logaddexp(score, self.contribution(ts, exit_code))
        if score == -math.inf:
            raise ValueError("score_of needs at least one run")
        return score

    def frecency_at(self, score: float, now: float) -> float:
        """The decayed, weighted run count at ``now`` for a stored ``score``."""
        return math.exp(score - self.rate * (now - EPOCH))
