"""Pushing a pane's live output to a client: one pump, two transports.

``pump(sub, sink)`` reads one ``OutputSubscription`` (bounded, drop-oldest, so a slow
client never holds up tmux or other clients) and hands it to an ``OutputSink``: chunks
that arrive together are passed on as one, a ``Gap`` (bytes this client lost) is reported
where it happened, and ``end`` says whether the pane went away or the client stopped.

Two transports use it with their own wire names:

- the Neovim host (``pane.watch``): ``OutputWatches`` below publishes ``pane.data
  {watch, pane, data}`` events (bytes; a gap as a bracketed note in the data) at most one
  every ``min_interval_s``, which keeps Neovim's work bounded under floods while new
  output still shows within a few milliseconds, then ``pane.data_end {watch, pane}``;
- the orchestrator (``stream.subscribe``, orchestrator/streams.py): ``stream.output
  {id, data}`` notifications (UTF-8 text), ``{id, data: "", dropped_bytes}`` for a gap,
  and ``stream.closed {id, reason}`` when the pane goes away.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Protocol

from orchflow_core.errors import NotFoundError
from orchflow_core.events import EventBus
from orchflow_core.mux.stream import Gap, OutputSubscription

log = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL_S = 0.004


class OutputSink(Protocol):
    """Where ``pump`` delivers; ``data``/``gap`` return False when the client is gone."""

    def data(self, chunk: bytes) -> bool: ...

    def gap(self, dropped_bytes: int) -> bool: ...

    def end(self, *, pane_gone: bool) -> None: ...


async def pump(sub: OutputSubscription, sink: OutputSink, *, min_interval_s: float = 0.0) -> None:
    """Deliver ``sub`` to ``sink`` until the pane goes away, the subscription is closed
    (or this task cancelled), or the sink says its client is gone; then ``sink.end``."""
    pane_gone = False
    try:
        async for item in sub:
            items: list[bytes | Gap] = [item]
            while (more := sub.get_nowait()) is not None:
                items.append(more)
            if not _deliver(sink, items):
                return
            if min_interval_s:
                await asyncio.sleep(min_interval_s)
        pane_gone = not sub.closed  # the stream ended: the pane is gone
    finally:
        sub.close()
        sink.end(pane_gone=pane_gone)


def _deliver(sink: OutputSink, items: list[bytes | Gap]) -> bool:
    chunk = bytearray()
    for item in items:
        if isinstance(item, Gap):
            if chunk and not sink.data(bytes(chunk)):
                return False
            chunk.clear()
            if not sink.gap(item.dropped_bytes):
                return False
        else:
            chunk += item
    return not chunk or sink.data(bytes(chunk))


class _EventSink:
    """The host's wire: ``pane.data`` / ``pane.data_end`` events on the core's bus."""

    def __init__(self, events: EventBus, watch: str, pane_id: str) -> None:
        self._events, self._watch, self._pane = events, watch, pane_id

    def data(self, chunk: bytes) -> bool:
        self._events.publish("pane.data", watch=self._watch, pane=self._pane, data=chunk)
        return True

    def gap(self, dropped_bytes: int) -> bool:
        return self.data(_gap_note(dropped_bytes))

    def end(self, *, pane_gone: bool) -> None:
        self._events.publish("pane.data_end", watch=self._watch, pane=self._pane)


class OutputWatches:
    """The host's output watches (``pane.watch``/``pane.unwatch``), by watch id."""

    def __init__(self, events: EventBus, *, min_interval_s: float = DEFAULT_MIN_INTERVAL_S) -> None:
        self._events = events
        self._min_interval_s = min_interval_s
        self._ids = itertools.count(1)
        self._watches: dict[str, tuple[OutputSubscription, asyncio.Task[None]]] = {}

    def start(self, sub: OutputSubscription, pane_id: str) -> tuple[str, bytes]:
        """Begin pushing ``sub``; returns (watch id, what was buffered before now)."""
        watch = f"w{next(self._ids)}"
        backlog = bytearray()
        while (item := sub.get_nowait()) is not None:
            backlog += _gap_note(item.dropped_bytes) if isinstance(item, Gap) else item
        sink = _EventSink(self._events, watch, pane_id)
        task = asyncio.create_task(pump(sub, sink, min_interval_s=self._min_interval_s))
        self._watches[watch] = (sub, task)
        return watch, bytes(backlog)

    def stop(self, watch: str) -> None:
        entry = self._watches.pop(watch, None)
        if entry is None:
            raise NotFoundError(f"no output watch {watch!r}", watch=watch)
        sub, task = entry
        sub.close()
        task.cancel()

    def stop_all(self) -> None:
        for watch in list(self._watches):
            self.stop(watch)

    def count(self) -> int:
        return len(self._watches)


def _gap_note(dropped_bytes: int) -> bytes:
    return f"\r\n[orchflow: {dropped_bytes} bytes of output dropped]\r\n".encode()
