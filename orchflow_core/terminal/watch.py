"""Output watches: a pane's live bytes pushed to one viewer as ``pane.data`` events.

Each watch reads its own stream subscription (bounded, drop-oldest), so a slow
viewer never holds up tmux or other viewers. Chunks that arrive together are
sent as one event, and at most one event leaves every ``min_interval_s``, which
keeps Neovim's work bounded under floods while new output still shows within a
few milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from orchflow_core.errors import NotFoundError
from orchflow_core.events import EventBus
from orchflow_core.mux.stream import Gap, OutputSubscription

log = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL_S = 0.004


class OutputWatches:
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
            backlog += _as_bytes(item)
        task = asyncio.create_task(self._pump(watch, pane_id, sub))
        self._watches[watch] = (sub, task)
        return watch, bytes(backlog)

    async def _pump(self, watch: str, pane_id: str, sub: OutputSubscription) -> None:
        try:
            async for item in sub:
                chunk = bytearray(_as_bytes(item))
                while (more := sub.get_nowait()) is not None:
                    chunk += _as_bytes(more)
                self._events.publish("pane.data", watch=watch, pane=pane_id, data=bytes(chunk))
                await asyncio.sleep(self._min_interval_s)
        finally:
            self._events.publish("pane.data_end", watch=watch, pane=pane_id)

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


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, Gap):
        return f"\r\n[orchflow: {item.dropped_bytes} bytes of output dropped]\r\n".encode()
    return bytes(item)
