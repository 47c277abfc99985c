"""What every provider shares: the request, the stream of events it yields, and the
failure it raises (which the manager retries, counts against the breaker, or passes on).

A provider's ``stream(request)`` is an async iterator of ``Delta`` (text as it arrives)
and, for a provider that ``supports_tools``, ``ToolUse`` (a tool the model asks for, its
arguments whole), ending with one ``Final`` (usage, finish reason, the model that
answered). It raises ``ProviderFailure`` for anything that went wrong, never a foreign
exception.

A request that offers tools carries them as ``ToolDef`` (their names already fit the
vendors' charset) and the rounds so far as ``Turn`` (what the model said, the tools it
asked for, what they answered); each provider renders these in its own wire format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchflow_core.errors import OrchflowError

REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class ToolDef:
    """A tool offered to the model: ``name`` as the model sees it (orchestrator/providers/
    mcp_tools.py maps it back to a server and tool), ``schema`` a JSON Schema object."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The model asks for a tool: ``arguments`` is the JSON text it sent (may be bad)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool answered (or why it did not run), sent back to the model."""

    id: str
    text: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class Turn:
    """One round: the model's text and tool requests, and the tools' outcomes."""

    text: str
    uses: tuple[ToolUse, ...]
    outcomes: tuple[ToolOutcome, ...]


@dataclass(frozen=True, slots=True)
class Request:
    prompt: str
    system: str | None = None
    tools: tuple[ToolDef, ...] = ()
    turns: tuple[Turn, ...] = ()


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    model: str | None = None  # the model the server says answered (None: as configured)


Event = Delta | ToolUse | Final


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
    supports_tools: bool  # renders Request.tools/turns and yields ToolUse

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
