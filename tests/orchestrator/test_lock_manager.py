"""LockManager in-process: what happens around owners that go away while they wait."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.coordination.locks import LockManager, LockMode
from orchflow_core.errors import ConflictError

S, X = LockMode.SHARED, LockMode.EXCLUSIVE


async def test_an_owner_gone_while_queued_unblocks_those_behind_it() -> None:
    m = LockManager()
    held = await m.acquire("a", "connection 1", "r", S)
    gone = asyncio.create_task(m.acquire("b", "connection 2", "r", X, wait_s=10))
    behind = asyncio.create_task(m.acquire("c", "connection 3", "r", S, wait_s=10))
    await asyncio.sleep(0)
    assert [w["owner"] for w in m.list()["waiting"]] == ["connection 2", "connection 3"]
    assert m.release_owner("b") == 0  # it held nothing; its wait is cancelled
    with pytest.raises(asyncio.CancelledError):
        await gone
    granted = await behind  # shared with the shared holder, no longer behind an exclusive
    assert granted["owner"] == "connection 3"
    # a newcomer after all that is judged on live waits only
    with pytest.raises(ConflictError, match="is held by connection 1"):
        await m.acquire("d", "connection 4", "r", X)
    m.release("a", held["lock_id"])
    m.release("c", granted["lock_id"])
    assert (await m.acquire("d", "connection 4", "r", X))["mode"] == "exclusive"
    assert m.counts() == (1, 0)
    m.close()


async def test_shared_waiters_after_an_exclusive_are_granted_together() -> None:
    m = LockManager()
    held = await m.acquire("a", "connection 1", "r", X)
    waits = [asyncio.create_task(m.acquire(o, f"connection {o}", "r", S, wait_s=10)) for o in "bcd"]
    await asyncio.sleep(0)
    m.release("a", held["lock_id"])
    got = await asyncio.gather(*waits)
    assert sorted(g["owner"] for g in got) == ["connection b", "connection c", "connection d"]
    assert m.counts() == (3, 0)
    m.close()
