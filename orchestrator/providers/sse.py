"""Server-sent events (the WHATWG ``text/event-stream`` format) from a stream of lines.

An event is the ``event:`` and ``data:`` fields up to a blank line; several ``data:``
lines join with ``\\n``; lines starting with ``:`` are comments (keep-alives). Used by the
OpenAI-compatible (``data:`` only, ending ``data: [DONE]``) and Anthropic (named events)
providers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str


async def events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    name, data = "", list[str]()
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data or name:
                yield SseEvent(name or "message", "\n".join(data))
            name, data = "", list[str]()
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield SseEvent(name or "message", "\n".join(data))
