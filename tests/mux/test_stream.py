"""OutputStream / OutputSubscription: ring, fan-out, drop-oldest with Gap markers (no tmux)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchflow_core.mux.stream import Gap, OutputEventCoalescer, OutputStream, OutputSubscription


def drain(sub: OutputSubscription) -> list[bytes | Gap]:
    out: list[bytes | Gap] = []
    while (item := sub.get_nowait()) is not None:
        out.append(item)
    return out


def test_late_subscriber_gets_ring_contents_only() -> None:
    stream = OutputStream(ring_bytes=10)
    stream.feed(b"0123456789")
    stream.feed(b"abcde")
    sub = stream.subscribe()
    assert drain(sub) == [b"56789abcde"]
    assert sub.start_offset == 5
    stream.feed(b"X")
    assert drain(sub) == [b"X"]


def test_single_chunk_larger_than_ring_keeps_tail() -> None:
    stream = OutputStream(ring_bytes=4)
    stream.feed(b"abcdefgh")
    assert stream.snapshot() == b"efgh"
    assert stream.total_bytes == 8


def test_slow_subscriber_gets_gap_in_order_and_does_not_affect_others() -> None:
    stream = OutputStream(ring_bytes=1024)
    slow = stream.subscribe(max_queue=2)
    fast = stream.subscribe(max_queue=100)
    for chunk in (b"aa", b"bbb", b"c", b"dddd"):
        stream.feed(chunk)
    assert drain(slow) == [Gap(5), b"c", b"dddd"]
    assert slow.dropped_bytes == 5
    assert drain(fast) == [b"aa", b"bbb", b"c", b"dddd"]
    stream.feed(b"e")
    assert drain(slow) == [b"e"]


def test_gap_accumulates_across_successive_drops() -> None:
    stream = OutputStream()
    sub = stream.subscribe(max_queue=1)
    for i in range(5):
        stream.feed(bytes([65 + i]) * (i + 1))
    assert drain(sub) == [Gap(1 + 2 + 3 + 4), b"EEEEE"]


def test_close_subscription_detaches() -> None:
    stream = OutputStream()
    sub = stream.subscribe()
    assert stream.subscriber_count == 1
    sub.close()
    sub.close()
    assert stream.subscriber_count == 0
    stream.feed(b"x")
    assert sub.get_nowait() is None


async def test_async_iteration_ends_after_stream_close_and_drain() -> None:
    stream = OutputStream()
    sub = stream.subscribe()

    async def consume() -> list[bytes | Gap]:
        return [item async for item in sub]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    stream.feed(b"one")
    stream.feed(b"two")
    stream.close()
    assert await asyncio.wait_for(task, 2) == [b"one", b"two"]
    late = stream.subscribe()
    assert [item async for item in late] == [b"onetwo"]


async def test_close_wakes_pending_reader() -> None:
    stream = OutputStream()
    sub = stream.subscribe()
    task = asyncio.create_task(anext(sub, None))
    await asyncio.sleep(0)
    sub.close()
    assert await asyncio.wait_for(task, 2) is None


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="ring_bytes"):
        OutputStream(ring_bytes=0)
    with pytest.raises(ValueError, match="max_queue"):
        OutputStream().subscribe(max_queue=0)


@given(
    chunks=st.lists(st.binary(min_size=0, max_size=300), max_size=60),
    ring=st.integers(min_value=1, max_value=2000),
    slow_queue=st.integers(min_value=1, max_value=8),
)
def test_fast_subscriber_receives_exactly_what_was_fed(
    chunks: list[bytes], ring: int, slow_queue: int
) -> None:
    stream = OutputStream(ring_bytes=ring)
    fast = stream.subscribe(max_queue=len(chunks) + 1)
    slow = stream.subscribe(max_queue=slow_queue)
    for chunk in chunks:
        stream.feed(chunk)
    fed = b"".join(chunks)
    assert b"".join(drain(fast)) == fed  # type: ignore[arg-type]
    # The slow one: every byte is either delivered or counted in a Gap, in order.
    got = drain(slow)
    assert sum(len(i) if isinstance(i, bytes) else i.dropped_bytes for i in got) == len(fed)
    delivered = b"".join(i for i in got if isinstance(i, bytes))
    assert fed.endswith(delivered)
    assert stream.snapshot() == fed[-ring:] if fed else stream.snapshot() == b""


async def test_coalescer_publishes_one_event_per_interval() -> None:
    events: list[dict[str, object]] = []
    coalescer = OutputEventCoalescer(
        lambda kind, **data: events.append({"kind": kind, **data}), interval_s=0.01
    )
    for _ in range(100):
        coalescer.note("%1", 10, 0)
    coalescer.note("%1", 10, 1010)
    await asyncio.sleep(0.05)
    assert events == [
        {"kind": "pane.output", "pane_id": "%1", "bytes": 1010, "chunks": 101, "total_bytes": 1010}
    ]
    coalescer.close()
