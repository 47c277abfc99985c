"""What every provider shares: the request, the stream of events it yields, and the
failure it raises (which the manager retries, counts against the breaker, or passes on).

A provider's ``stream(request)`` is an async iterator of ``Delta`` (text as it arrives)
ending with one ``Final`` (usage, finish reason, the model that answered). It raises
``ProviderFailure`` for anything that went wrong, never a foreign exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchflow_core.errors import OrchflowError

REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Request:
    prompt: str
    system: str | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    model: str | None = None  # the model the server says answered (None: as configured)


Event = Delta | Final


class ProviderFailure(Exception):
    """A failed attempt. ``error`` is what the caller sees; ``retryable`` lets the manager
    try again (after ``retry_after`` seconds when the server said so); ``breaker`` says
    whether it counts against the provider's circuit breaker (a server fault or timeout
    does; a refused key or a bad request does not: the service is up)."""

    def __init__(
        self,
        error: OrchflowError,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        breaker: bool = True,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after
        self.breaker = breaker


class Provider(Protocol):
    name: str
    kind: str
    model: str

    def unavailable(self) -> str | None:
        """Why it cannot be used here (a key variable unset, a command not on PATH), or None."""
        ...

    def stream(self, request: Request) -> AsyncIterator[Event]: ...

    async def aclose(self) -> None: ...


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every secret (and a long prefix of it, as servers echo keys
    half-masked) replaced by ``[redacted]``."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, REDACTED)
        if len(secret) >= 16:
            text = text.replace(secret[:12], REDACTED)
            text = text.replace(secret[-8:], REDACTED)
    return text
