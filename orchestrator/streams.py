"""Live output of agents and panes, pushed to the connections that subscribed.

``stream.subscribe(id)`` gives the calling connection its own subscription to the pane's
output (``TerminalManager.subscribe``: first what the pane's ring buffer holds, up to 64 KiB,
then everything new) and a task that forwards each chunk as a ``stream.output``
notification ``{"id", "data"}``. Bytes become text through one incremental UTF-8 decoder
per subscription (``errors="replace"``), so a character split across two chunks arrives
whole. If this connection falls behind, the chunks it lost are reported once as
``{"id", "data": "", "dropped_bytes": N}``; when the pane goes away a final
``stream.closed {"id", "reason"}`` is sent. Subscriptions end with ``stream.unsubscribe``
or when the connection closes, however it closes. The pump is core's
(``orchflow_core.terminal.watch.pump``), the one the Neovim host's ``pane.watch`` uses;
only the wire (names, text instead of bytes) is this module's.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orchflow_core.mux.stream import OutputSubscription
from orchflow_core.rpc.server import ConnectionContext
from orchflow_core.terminal.watch import pump

log = logging.getLogger(__name__)

_KEY = "orchestrator.streams"
OUTPUT = "stream.output"
CLOSED = "stream.closed"

# ref -> (canonical id, kind "agent"|"pane", tmux pane id)
Resolver = Callable[[str], Awaitable[tuple[str, str, str]]]
Subscriber = Callable[[str], Awaitable[OutputSubscription]]


@dataclass(slots=True)
class _Stream:
    sub: OutputSubscription
    task: asyncio.Task[None]


class StreamHub:
    """Per-connection output subscriptions. ``subscribe_pane(pane_id)`` opens the backend's."""

    def __init__(self, resolve: Resolver, subscribe_pane: Subscriber) -> None:
        self._resolve = resolve
        self._subscribe_pane = subscribe_pane
        self.active = 0

    @staticmethod
    def _streams(ctx: ConnectionContext) -> dict[str, _Stream]:
        streams: dict[str, _Stream] | None = ctx.data.get(_KEY)
        if streams is None:
            streams = ctx.data[_KEY] = {}

            def cleanup() -> None:
                for stream in streams.values():
                    stream.sub.close()
                    stream.task.cancel()
                streams.clear()

            ctx.add_cleanup(cleanup)
        return streams

    async def subscribe(self, ctx: ConnectionContext, ref: str) -> dict[str, Any]:
        stream_id, kind, pane_id = await self._resolve(ref)
        streams = self._streams(ctx)
        if stream_id in streams:
            return {"id": stream_id, "kind": kind, "pane_id": pane_id, "already": True}
        sub = await self._subscribe_pane(pane_id)
        task = asyncio.get_running_loop().create_task(self._pump(ctx, stream_id, sub))
        streams[stream_id] = _Stream(sub, task)
        self.active += 1
        task.add_done_callback(lambda _t: self._forget(ctx, stream_id, task))
        return {"id": stream_id, "kind": kind, "pane_id": pane_id, "already": False}

    async def unsubscribe(self, ctx: ConnectionContext, ref: str) -> dict[str, Any]:
        streams = self._streams(ctx)
        stream_id = ref if ref in streams else (await self._resolve(ref))[0]
        stream = streams.pop(stream_id, None)
        if stream is None:
            return {"id": stream_id, "unsubscribed": False}
        stream.sub.close()
        stream.task.cancel()
        return {"id": stream_id, "unsubscribed": True}

    def _forget(self, ctx: ConnectionContext, stream_id: str, task: asyncio.Task[None]) -> None:
        self.active -= 1
        streams = ctx.data.get(_KEY, {})
        current = streams.get(stream_id)
        if current is not None and current.task is task:
            del streams[stream_id]

    @staticmethod
    async def _pump(ctx: ConnectionContext, stream_id: str, sub: OutputSubscription) -> None:
        await pump(sub, _ConnectionSink(ctx, stream_id))


class _ConnectionSink:
    """The orchestrator's wire for core's ``pump``: ``stream.output`` as UTF-8 text through
    one incremental decoder (a character split across chunks arrives whole), a gap as
    ``dropped_bytes``, ``stream.closed`` when the pane is gone."""

    def __init__(self, ctx: ConnectionContext, stream_id: str) -> None:
        self._ctx, self._id = ctx, stream_id
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def data(self, chunk: bytes) -> bool:
        text = self._decoder.decode(chunk)
        # push() is False once the connection is gone or dropped for reading too slowly
        return not text or self._ctx.push(OUTPUT, {"id": self._id, "data": text})

    def gap(self, dropped_bytes: int) -> bool:
        return self._ctx.push(OUTPUT, {"id": self._id, "data": "", "dropped_bytes": dropped_bytes})

    def end(self, *, pane_gone: bool) -> None:
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._ctx.push(OUTPUT, {"id": self._id, "data": tail})
        if pane_gone:  # not ended by unsubscribe or the connection closing
            self._ctx.push(CLOSED, {"id": self._id, "reason": "the pane is gone"})
