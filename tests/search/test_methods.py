"""search.* methods through api.dispatch: a running search belongs to the caller that started it."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import orchflow_core.search.methods  # noqa: F401 - registers search.*
from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.events import Event
from orchflow_core.search.methods import CALLER
from tests.search.conftest import rg_children


@pytest.fixture
def core(isolated: Path, tmp_path: Path) -> Iterator[Core]:
    root = tmp_path / "proj"
    root.mkdir()
    # More output than a pipe holds: ripgrep is still writing when the first batch arrives.
    (root / "big.txt").write_text("needle here\n" * 200_000)
    c = Core()
    c.project_root = root  # type: ignore[attr-defined]
    yield c


def as_caller(caller: object, coro: Any) -> asyncio.Task[tuple[bool, Any]]:
    """Run ``coro`` as a request of ``caller`` (what a server does per connection)."""
    ctx = contextvars.copy_context()
    ctx.run(CALLER.set, caller)
    return asyncio.create_task(coro, context=ctx)


async def test_only_the_caller_that_started_a_search_can_cancel_or_replace_it(
    core: Core,
) -> None:
    first = asyncio.Event()
    events: list[Event] = []
    core.events.subscribe(lambda e: (events.append(e), first.set()), ["search.results"])
    params = {"pattern": "needle", "search_id": "s1", "max_results": 1_000_000}
    running = as_caller("conn-a", dispatch(core, "search.project", params))
    await asyncio.wait_for(first.wait(), 10)

    async def other(method: str, **more: Any) -> tuple[bool, Any]:
        return await as_caller("conn-b", dispatch(core, method, {"search_id": "s1", **more}))

    ok, err = await other("search.cancel")
    assert not ok and err["code"] == -32002 and "s1" in err["message"]
    ok, err = await other("search.project", pattern="here")
    assert not ok and err["code"] == -32002
    assert not running.done()  # neither stopped it
    assert all(e.data["search_id"] == "s1" and not e.data.get("error") for e in events)

    ok, result = await as_caller("conn-a", dispatch(core, "search.cancel", {"search_id": "s1"}))
    assert ok and result == {"search_id": "s1", "cancelled": True}
    ok, summary = await asyncio.wait_for(running, 10)
    assert ok and summary["cancelled"] is True
    assert rg_children() == []
    # once it has ended, the id is free for anyone
    ok, result = await other("search.cancel")
    assert ok and result["cancelled"] is False


async def test_the_host_is_one_caller(core: Core) -> None:
    """Without a server setting CALLER every request is the host's, as before."""
    first = asyncio.Event()
    core.events.subscribe(lambda e: first.set(), ["search.results"])
    params = {"pattern": "needle", "search_id": "live", "max_results": 1_000_000}
    old = asyncio.create_task(dispatch(core, "search.project", params))
    await asyncio.wait_for(first.wait(), 10)
    new = asyncio.create_task(dispatch(core, "search.project", {**params, "max_results": 3}))
    ok, old_summary = await asyncio.wait_for(old, 10)
    assert ok and old_summary["cancelled"] is True  # replaced by the newer search
    ok, new_summary = await asyncio.wait_for(new, 10)
    assert ok and new_summary["match_count"] == 3
