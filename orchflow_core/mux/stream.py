"""Per-pane output: a ring buffer for late subscribers and a bounded queue per subscriber.

    producer ──feed(bytes)──► OutputStream ──► ring (last ``ring_bytes``)
                                   │
                                   ├──► OutputSubscription A  (bounded deque, drop-oldest)
                                   └──► OutputSubscription B

``feed()`` is synchronous and costs O(1) per subscriber: it never waits, so a
slow subscriber holds up neither the producer nor the other subscribers. When a
subscriber's queue is full its oldest chunks are dropped and a ``Gap`` with the
number of lost bytes is delivered to it, in order, before the data that follows.

Not thread-safe: feed and consume on the event loop's thread (a reader thread
hands data over with ``loop.call_soon_threadsafe(stream.feed, data)``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_RING_BYTES = 64 * 1024
DEFAULT_MAX_QUEUE = 1024


@dataclass(frozen=True, slots=True)
class Gap:
    """``dropped_bytes`` of output were lost here because this subscriber fell behind."""

    dropped_bytes: int


Item = bytes | Gap


class OutputSubscription:
    """An async iterator of ``bytes`` chunks and ``Gap`` markers; ``close()`` to stop.

    Iteration ends when the subscription is closed (at once) or when the stream
    ends (after what is queued has been delivered).
    """

    def __init__(self, stream: OutputStream, *, max_queue: int, start_offset: int) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self._stream: OutputStream | None = stream
        self._queue: collections.deque[bytes] = collections.deque()
        self._max_queue = max_queue
        self._gap = 0  # bytes lost just before self._queue[0]
        self._ended = False  # the stream ended: drain, then stop
        self._closed = False  # closed by the consumer: stop now
        self._waiter: asyncio.Future[None] | None = None
        self.start_offset = start_offset
        """Stream offset (bytes fed since the stream began) of the first byte delivered."""
        self.dropped_bytes = 0
        """Total bytes this subscriber lost."""

    @property
    def closed(self) -> bool:
        return self._closed

    def _push(self, data: bytes) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._max_queue:
            lost = len(self._queue.popleft())
            self._gap += lost
            self.dropped_bytes += lost
        self._queue.append(data)
        self._wake()

    def _end(self) -> None:
        self._ended = True
        self._stream = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Item | None:
        """The next item, or None if nothing is queued now."""
        if self._closed:
            return None
        if self._gap:
            gap, self._gap = self._gap, 0
            return Gap(gap)
        if self._queue:
            return self._queue.popleft()
        return None

    @property
    def exhausted(self) -> bool:
        """True when iteration is over: closed, or ended with nothing left to deliver."""
        return self._closed or (self._ended and not self._queue and not self._gap)

    def __aiter__(self) -> OutputSubscription:
        return self

    async def __anext__(self) -> Item:
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            if self.exhausted:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Stop receiving; idempotent. A pending ``__anext__`` ends with StopAsyncIteration."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._gap = 0
        if self._stream is not None:
            self._stream._subs.discard(self)
            self._stream = None
        self._wake()

    async def __aenter__(self) -> OutputSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class OutputStream:
    """The output of one pane: keeps the last ``ring_bytes`` and fans out to subscribers."""

    def __init__(self, *, ring_bytes: int = DEFAULT_RING_BYTES) -> None:
        if ring_bytes < 1:
            raise ValueError(f"ring_bytes must be >= 1, got {ring_bytes}")
        self.ring_bytes = ring_bytes
        self._ring: collections.deque[bytes] = collections.deque()
        self._ring_size = 0
        self._subs: set[OutputSubscription] = set()
        self.total_bytes = 0
        """Bytes fed since the stream began (the offset of the next byte)."""
        self.closed = False
        self._listeners: list[Callable[[bytes], Any]] = []

    def feed(self, data: bytes) -> None:
        """Append output; never blocks. Ignored after ``close()``."""
        if not data or self.closed:
            return
        self.total_bytes += len(data)
        self._ring.append(data)
        self._ring_size += len(data)
        self._trim()
        for sub in self._subs:
            sub._push(data)
        for listener in self._listeners:
            listener(data)

    def _trim(self) -> None:
        excess = self._ring_size - self.ring_bytes
        while excess > 0:
            first = self._ring[0]
            if len(first) <= excess:
                self._ring.popleft()
                self._ring_size -= len(first)
                excess -= len(first)
            else:
                self._ring[0] = first[excess:]
                self._ring_size -= excess
                excess = 0

    def snapshot(self) -> bytes:
        """What the ring holds now: the last ``ring_bytes`` at most."""
        if len(self._ring) > 1:
            joined = b"".join(self._ring)
            self._ring.clear()
            self._ring.append(joined)
        return self._ring[0] if self._ring else b""

    def subscribe(
        self, *, max_queue: int = DEFAULT_MAX_QUEUE, replay: bool = True
    ) -> OutputSubscription:
        """A new subscriber; with ``replay`` it first receives what the ring holds (one chunk)."""
        buffered = self.snapshot() if replay else b""
        sub = OutputSubscription(
            self, max_queue=max_queue, start_offset=self.total_bytes - len(buffered)
        )
        if buffered:
            sub._push(buffered)
        if self.closed:
            sub._end()
        else:
            self._subs.add(sub)
        return sub

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def add_listener(self, fn: Callable[[bytes], Any]) -> Callable[[], None]:
        """Call ``fn(chunk)`` synchronously on every feed (must be quick); returns a remover."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def close(self) -> None:
        """The pane is gone: subscribers drain what is queued, then stop. Idempotent."""
        if self.closed:
            return
        self.closed = True
        subs, self._subs = self._subs, set()
        for sub in subs:
            sub._end()
        self._listeners.clear()


class OutputEventCoalescer:
    """Turns a torrent of chunks into at most one ``pane.output`` event per pane per interval.

    The event carries counts, not data (``pane_id``, ``bytes``, ``chunks``, ``total_bytes``):
    a listener that wants the bytes subscribes to the stream.
    """

    def __init__(
        self,
        publish: Callable[..., None],
        *,
        interval_s: float = 0.05,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._publish = publish
        self._interval = interval_s
        self._loop = loop
        self._pending: dict[str, list[int]] = {}
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def note(self, pane_id: str, nbytes: int, total_bytes: int) -> None:
        pending = self._pending.get(pane_id)
        if pending is None:
            self._pending[pane_id] = [nbytes, 1, total_bytes]
            loop = self._loop or asyncio.get_running_loop()
            self._handles[pane_id] = loop.call_later(self._interval, self._flush, pane_id)
        else:
            pending[0] += nbytes
            pending[1] += 1
            pending[2] = total_bytes

    def _flush(self, pane_id: str) -> None:
        self._handles.pop(pane_id, None)
        pending = self._pending.pop(pane_id, None)
        if pending is not None:
            nbytes, chunks, total = pending
            self._publish(
                "pane.output", pane_id=pane_id, bytes=nbytes, chunks=chunks, total_bytes=total
            )

    def flush(self, pane_id: str) -> None:
        """Publish what is pending for ``pane_id`` now (before pane.closed, say)."""
        handle = self._handles.pop(pane_id, None)
        if handle is not None:
            handle.cancel()
        self._flush(pane_id)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._pending.clear()
