"""core's output pump (terminal/watch.py), the one both transports use, on a real
OutputStream (a pure object: no tmux needed to drive it)."""

from __future__ import annotations

import asyncio

from orchflow_core.events import Event, EventBus
from orchflow_core.mux.stream import OutputStream
from orchflow_core.terminal.watch import OutputWatches, pump


class Recorder:
    """An OutputSink that keeps what it got; ``accept`` = how many deliveries it takes."""

    def __init__(self, accept: int = 1_000) -> None:
        self.got: list[tuple[str, object]] = []
        self.accept = accept

    def data(self, chunk: bytes) -> bool:
        self.got.append(("data", chunk))
        return len(self.got) < self.accept

    def gap(self, dropped_bytes: int) -> bool:
        self.got.append(("gap", dropped_bytes))
        return len(self.got) < self.accept

    def end(self, *, pane_gone: bool) -> None:
        self.got.append(("end", pane_gone))


async def test_chunks_that_arrive_together_go_as_one_and_a_gone_pane_is_said() -> None:
    stream = OutputStream()
    sub = stream.subscribe(max_queue=2, replay=False)
    sink = Recorder()
    for part in (b"a", b"b", b"c", b"d"):  # the queue keeps 2: "a" and "b" are dropped
        stream.feed(part)
    stream.close()
    await pump(sub, sink)
    assert sink.got == [("gap", 2), ("data", b"cd"), ("end", True)]


async def test_closed_by_the_client_is_not_a_gone_pane_and_a_gone_client_stops_it() -> None:
    stream = OutputStream()
    sub = stream.subscribe(max_queue=8, replay=False)
    sink = Recorder()
    task = asyncio.create_task(pump(sub, sink))
    stream.feed(b"x")
    await asyncio.sleep(0.01)
    sub.close()
    await asyncio.wait_for(task, 1)
    assert sink.got == [("data", b"x"), ("end", False)]

    sub = stream.subscribe(max_queue=8, replay=False)
    refusing = Recorder(accept=1)
    stream.feed(b"y")
    await asyncio.wait_for(pump(sub, refusing), 1)  # returns: its client said no more
    assert refusing.got == [("data", b"y"), ("end", False)] and sub.closed


async def test_host_watches_publish_pane_data_and_data_end() -> None:
    events = EventBus()
    seen: list[Event] = []
    events.subscribe(seen.append, kinds={"pane.data", "pane.data_end"})
    stream = OutputStream()
    stream.feed(b"before")
    watches = OutputWatches(events, min_interval_s=0)
    watch, backlog = watches.start(stream.subscribe(max_queue=8), "%1")
    assert backlog == b"before"
    stream.feed(b"after")
    await asyncio.sleep(0.01)
    watches.stop(watch)
    await asyncio.sleep(0.01)
    assert [(e.kind, e.data.get("data")) for e in seen] == [
        ("pane.data", b"after"),
        ("pane.data_end", None),
    ]
    assert seen[0].data["watch"] == watch and seen[0].data["pane"] == "%1"
