"""How long to wait before the next attempt: the server's ``Retry-After`` when it gave
one, else exponential backoff with full jitter (``backoff_s * 2**n``, capped)."""

from __future__ import annotations

import random

DEFAULT_MAX_BACKOFF_S = 30.0


def delay(
    attempt: int,
    *,
    backoff_s: float,
    retry_after: float | None,
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
    rand: random.Random | None = None,
) -> float:
    """Seconds before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
    if retry_after is not None:
        return retry_after
    ceiling = min(max_backoff_s, backoff_s * (2**attempt))
    return (rand or random).uniform(ceiling / 2, ceiling)
