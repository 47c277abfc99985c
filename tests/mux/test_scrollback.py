"""Scrollback search over real tmux panes."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path

import pytest

from orchflow_core.errors import (
    InvalidArgumentError,
    NotFoundError,
    PatternTimeoutError,
    TimeoutError_,
)
from orchflow_core.mux.scrollback import ScrollbackHit, match_lines, search_scrollback
from tests.harness.tmux import TmuxServer
from tests.mux.conftest import poll_until, tmux_backend

# (a+)+$ backtracks exponentially on a line of a's that ends in anything else
CATASTROPHIC = r"(a+)+$"


def matcher_children() -> list[int]:
    """Pids of this process's children that are running the scrollback matcher."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"scrollback_worker.py" in cmdline:
            pids.append(int(proc.name))
    return pids


async def test_search_one_pane_and_all_panes(mux_tmux: TmuxServer) -> None:
    async with tmux_backend(mux_tmux) as backend:
        session = f"s-{uuid.uuid4().hex[:6]}"
        await backend.create_session(session)
        try:
            a = await backend.create_pane(session)
            b = await backend.create_pane(session)
            await (await backend.run(a.pane_id, "printf 'alpha %s\\n' 1 2 3")).wait(timeout=10)
            await (await backend.run(b.pane_id, "printf 'ALPHA.%s\\n' 9")).wait(timeout=10)
            hits = await search_scrollback(backend, r"^alpha \d$", pane_id=a.pane_id)
            assert [h.text for h in hits] == ["alpha 1", "alpha 2", "alpha 3"]
            assert all(isinstance(h, ScrollbackHit) and h.pane_id == a.pane_id for h in hits)
            assert hits[1].line_no == hits[0].line_no + 1
            every = await search_scrollback(backend, "alpha.", session=session, ignore_case=True)
            assert {h.text for h in every} >= {"alpha 1", "ALPHA.9"}
            literal = await search_scrollback(backend, "ALPHA.9", session=session, regex=False)
            assert [h.text for h in literal] == ["ALPHA.9"]
            assert (
                len(await search_scrollback(backend, "alpha", max_results=2, ignore_case=True)) == 2
            )
            # the line where run() typed its wrapper reads as the command (twice when the tty
            # echoed the typed-ahead line before the prompt came), and nothing else matches
            typed = await search_scrollback(backend, "printf|trap", pane_id=b.pane_id)
            assert typed and all(h.text.endswith("printf 'ALPHA.%s\\n' 9") for h in typed)
            with pytest.raises(InvalidArgumentError, match=r"invalid regex 'alpha\(\['"):
                await search_scrollback(backend, "alpha([")
            with pytest.raises(NotFoundError, match="%999999"):
                await search_scrollback(backend, "x", pane_id="%999999")
        finally:
            await backend.kill_session(session)


async def test_a_runaway_regex_over_10_mb_times_out_while_other_calls_go_on() -> None:
    lines = ["a" * 99 + "!"] * 100_000  # 10 MB of a's, each line ending in "!"
    search = asyncio.create_task(
        match_lines(re.compile(CATASTROPHIC), [("%1", lines)], timeout_s=3, shown=CATASTROPHIC)
    )
    await poll_until(lambda: matcher_children() != [])
    pings = 0
    for _ in range(20):  # a ping-like call: it answers only if the loop is free
        await asyncio.sleep(0.01)
        pings += 1
    assert pings == 20 and not search.done(), "other calls must finish while the search runs"
    with pytest.raises(PatternTimeoutError, match=r"'\(a\+\)\+\$' took too long") as info:
        await search
    assert isinstance(info.value, TimeoutError_) and info.value.code == -32008
    assert info.value.data == {"pattern": CATASTROPHIC, "timeout_s": 3}
    assert matcher_children() == []  # killed, not left burning a CPU


async def test_cancelling_a_search_kills_its_matcher() -> None:
    lines = ["a" * 60 + "!"]
    search = asyncio.create_task(match_lines(re.compile(CATASTROPHIC), [("%1", lines)]))
    await poll_until(lambda: matcher_children() != [])
    search.cancel()
    with pytest.raises(asyncio.CancelledError):
        await search
    assert matcher_children() == []


async def test_matching_is_the_same_in_the_child() -> None:
    panes = [("%1", ["x", "Alpha 1", "beta"]), ("%2", []), ("%3", ["alpha 2", "ALPHA"])]
    hits = await match_lines(re.compile("alpha", re.IGNORECASE), panes, max_results=2)
    assert hits == [ScrollbackHit("%1", 1, "Alpha 1"), ScrollbackHit("%3", 0, "alpha 2")]
    # unicode and lone surrogates survive the trip
    odd = [("%4", ["naïve ☃ \udcff end", "plain"])]
    assert [h.text for h in await match_lines(re.compile("☃ \udcff"), odd)] == [odd[0][1][0]]
    assert await match_lines(re.compile("x"), [("%1", [])]) == []


async def test_pane_search_times_out_while_tmux_calls_go_on(mux_tmux: TmuxServer) -> None:
    async with tmux_backend(mux_tmux) as backend:
        session = f"s-{uuid.uuid4().hex[:6]}"
        await backend.create_session(session)
        try:
            pane = await backend.create_pane(session)
            await (await backend.run(pane.pane_id, "printf 'a%.0s' $(seq 40); echo '!'")).wait(
                timeout=10
            )
            search = asyncio.create_task(
                search_scrollback(backend, CATASTROPHIC, pane_id=pane.pane_id, timeout_s=3)
            )
            await poll_until(lambda: matcher_children() != [])  # captured; now matching
            for _ in range(10):
                assert (await backend.get_pane(pane.pane_id)).pane_id == pane.pane_id
            assert not search.done(), "tmux calls must finish while the search runs"
            with pytest.raises(PatternTimeoutError, match="took too long"):
                await search
            # the pane is still searchable with a sane pattern
            hits = await search_scrollback(backend, r"^a{40}!$", pane_id=pane.pane_id)
            assert [h.text for h in hits] == ["a" * 40 + "!"]
            with pytest.raises(InvalidArgumentError, match="timeout_s must be > 0"):
                await search_scrollback(backend, "a", timeout_s=0)
        finally:
            await backend.kill_session(session)
