"""Streamed completions (``ai.complete {stream: true}``): each runs as a task under a
``request_id``; its text reaches the connection that asked as ``ai.delta``
notifications, then one ``ai.done`` (also when cancelled, with ``cancelled: true``) or
``ai.error``. A completion with tools also sends ``ai.tool`` as each tool call starts and
finishes (after the text streamed before it). Deltas that arrive within one event-loop
pass go out as one notification, so a fast stream costs one frame per pass, not one per
token. ``ai.cancel`` (or the
connection closing) cancels the task: the provider's HTTP stream is closed, its CLI
process group killed, its ACP turn cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from orchestrator.providers.manager import Completion, OnDelta
from orchestrator.providers.mcp_tools import OnTool
from orchflow_core.errors import OrchflowError

log = logging.getLogger(__name__)

Run = Callable[[OnDelta, OnTool], Awaitable[Completion]]


class Pusher(Protocol):
    def push(self, method: str, params: dict[str, Any] | None = None) -> bool: ...


class _Stream:
    def __init__(self, request_id: str, ctx: Pusher, provider: str, model: str) -> None:
        self.request_id = request_id
        self.ctx = ctx
        self.provider = provider
        self.model = model
        self.text: list[str] = []
        self.pending: list[str] = []
        self.scheduled = False
        self.task: asyncio.Task[None] | None = None

    def delta(self, text: str) -> None:
        self.text.append(text)
        self.pending.append(text)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        if self.pending:
            chunk, self.pending = "".join(self.pending), []
            self.ctx.push("ai.delta", {"request_id": self.request_id, "text": chunk})

    def tool(self, event: dict[str, Any]) -> None:
        """A tool call started or finished: sent after the text before it."""
        self.flush()
        self.ctx.push("ai.tool", {"request_id": self.request_id, **event})


class StreamedCompletions:
    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}

    @property
    def running(self) -> int:
        return len(self._streams)

    def start(self, ctx: Pusher, run: Run, *, provider: str, model: str) -> str:
        request_id = uuid.uuid4().hex
        stream = _Stream(request_id, ctx, provider, model)
        self._streams[request_id] = stream
        stream.task = asyncio.get_running_loop().create_task(
            self._run(stream, run), name=f"ai.complete:{request_id}"
        )
        return request_id

    async def _run(self, stream: _Stream, run: Run) -> None:
        base = {"request_id": stream.request_id, "provider": stream.provider}
        try:
            done = await run(stream.delta, stream.tool)
        except asyncio.CancelledError:
            stream.flush()
            stream.ctx.push(
                "ai.done",
                {
                    **base,
                    "model": stream.model,
                    "text": "".join(stream.text),
                    "usage": {},
                    "finish_reason": "cancelled",
                    "cancelled": True,
                },
            )
            return
        except OrchflowError as exc:
            stream.flush()
            error = exc.to_dict()
            error.get("data", {}).pop("partial_text", None)
            stream.ctx.push("ai.error", {**base, "text": "".join(stream.text), "error": error})
            return
        except Exception:
            log.exception("streamed completion %s failed", stream.request_id)
            stream.flush()
            stream.ctx.push(
                "ai.error",
                {
                    **base,
                    "text": "".join(stream.text),
                    "error": {"code": -32603, "message": "internal error (see the log)"},
                },
            )
            return
        finally:
            self._streams.pop(stream.request_id, None)
        stream.flush()
        stream.ctx.push(
            "ai.done", {"request_id": stream.request_id, **done.to_dict(), "cancelled": False}
        )

    def cancel(self, request_id: str) -> bool:
        """Cancel a running completion; False when none runs under that id."""
        stream = self._streams.get(request_id)
        if stream is None or stream.task is None:
            return False
        stream.task.cancel()
        return True

    def cancel_for(self, ctx: Pusher) -> None:
        """The connection closed: cancel what it started."""
        for stream in list(self._streams.values()):
            if stream.ctx is ctx and stream.task is not None:
                stream.task.cancel()

    async def close(self) -> None:
        tasks = [s.task for s in self._streams.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
