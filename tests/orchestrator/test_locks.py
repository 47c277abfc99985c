"""Resource locks through a real orchestrator process: racing clients, leases, dropped and
SIGKILLed holders, fairness and deadlocks refused with their cycle."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap
from typing import Any

import pytest

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    TimeoutError_,
)
from orchflow_core.rpc.client import RpcClient
from tests.orchestrator.server_process import ROOT, OrchestratorProcess


async def _until_listed(client: RpcClient, pred: Any, *, within: float = 10.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            listed = await client.call("lock.list")
            if pred(listed):
                return listed
            await asyncio.sleep(0.02)


async def test_two_clients_race_for_one_exclusive_lock(orch: OrchestratorProcess) -> None:
    async with await orch.client() as a, await orch.client() as b, await orch.client() as c:
        want = {"resource": "db:migrations", "mode": "exclusive", "wait_s": 20}
        race = [
            asyncio.create_task(a.call("lock.acquire", want)),
            asyncio.create_task(b.call("lock.acquire", want)),
        ]
        done, pending = await asyncio.wait(race, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1 and len(pending) == 1  # one holds it, the other waits
        first = done.pop().result()
        winner, loser = (a, b) if race[0].done() else (b, a)
        listed = await _until_listed(c, lambda x: len(x["waiting"]) == 1)
        assert [lk["lock_id"] for lk in listed["locks"]] == [first["lock_id"]]
        assert listed["waiting"][0]["mode"] == "exclusive"
        # a third client without wait_s is told at once who holds it
        with pytest.raises(ConflictError, match=r"'db:migrations' is held by connection \d+"):
            await c.call("lock.acquire", {"resource": "db:migrations", "mode": "shared"})
        # only its holder may release it
        with pytest.raises(PermissionDeniedError, match="belongs to connection"):
            await loser.call("lock.release", {"lock_id": first["lock_id"]})
        released = await winner.call("lock.release", {"lock_id": first["lock_id"]})
        assert released["released"] is True
        second = await pending.pop()
        assert second["lock_id"] != first["lock_id"] and second["expires_at"] > 0
        listed = await c.call("lock.list")
        assert [lk["lock_id"] for lk in listed["locks"]] == [second["lock_id"]]
        assert listed["waiting"] == []


async def test_shared_holders_together_and_an_exclusive_waiter_is_not_starved(
    orch: OrchestratorProcess,
) -> None:
    async with (
        await orch.client() as a,
        await orch.client() as b,
        await orch.client() as c,
        await orch.client() as d,
    ):
        shared = {"resource": "repo", "mode": "shared", "wait_s": 20}
        held_a = await a.call("lock.acquire", shared)
        held_d = await d.call("lock.acquire", shared)  # shared with a shared holder: at once
        excl = asyncio.create_task(
            b.call("lock.acquire", {"resource": "repo", "mode": "exclusive", "wait_s": 20})
        )
        await _until_listed(a, lambda x: len(x["waiting"]) == 1)
        # a new shared request queues behind the exclusive waiter instead of overtaking it
        late = asyncio.create_task(c.call("lock.acquire", shared))
        listed = await _until_listed(a, lambda x: len(x["waiting"]) == 2)
        assert [w["mode"] for w in listed["waiting"]] == ["exclusive", "shared"]
        await a.call("lock.release", {"lock_id": held_a["lock_id"]})
        await d.call("lock.release", {"lock_id": held_d["lock_id"]})
        got_b = await excl
        assert got_b["mode"] == "exclusive"
        assert not late.done()
        await b.call("lock.release", {"lock_id": got_b["lock_id"]})
        assert (await late)["mode"] == "shared"


async def test_a_dropped_connection_frees_its_locks_and_its_waits(
    orch: OrchestratorProcess,
) -> None:
    async with await orch.client() as watcher:
        holder = await orch.client()
        await holder.call("lock.acquire", {"resource": "port:8080", "mode": "exclusive"})
        await holder.call("lock.acquire", {"resource": "port:8081", "mode": "shared"})
        listed = await watcher.call("lock.list")
        assert sorted(lk["resource"] for lk in listed["locks"]) == ["port:8080", "port:8081"]
        await holder.close()
        got = await watcher.call(
            "lock.acquire", {"resource": "port:8080", "mode": "exclusive", "wait_s": 10}
        )
        listed = await watcher.call("lock.list")
        assert [lk["lock_id"] for lk in listed["locks"]] == [got["lock_id"]]


HOLDER = textwrap.dedent(
    """
    import asyncio, json, sys
    from orchflow_core.rpc.client import RpcClient

    async def main():
        client = await RpcClient.connect(sys.argv[1], sys.stdin.readline().strip())
        lock = await client.call(
            "lock.acquire", {"resource": "build-dir", "mode": "exclusive", "lease_s": 30})
        print(json.dumps(lock), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_a_sigkilled_holder_loses_its_lock_within_its_lease(
    orch: OrchestratorProcess,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        orch.url,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(orch.token.encode() + b"\n")
    await proc.stdin.drain()
    async with asyncio.timeout(15):
        held = json.loads(await proc.stdout.readline())
    async with await orch.client() as other:
        with pytest.raises(ConflictError, match="'build-dir' is held by"):
            await other.call("lock.acquire", {"resource": "build-dir", "mode": "exclusive"})
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        # granted once the server noticed the dead socket, at the latest when the 30 s
        # lease ran out: the wait is bounded by the lease, never longer
        got = await other.call(
            "lock.acquire", {"resource": "build-dir", "mode": "exclusive", "wait_s": 30}
        )
        assert got["lock_id"] != held["lock_id"]


async def test_a_lease_expires_and_renew_says_so(orch: OrchestratorProcess) -> None:
    async with await orch.client() as a, await orch.client() as b:
        held = await a.call(
            "lock.acquire", {"resource": "cache", "mode": "exclusive", "lease_s": 0.3}
        )
        renewed = await a.call("lock.renew", {"lock_id": held["lock_id"], "lease_s": 0.3})
        assert renewed["expires_at"] >= held["expires_at"]
        got = await b.call("lock.acquire", {"resource": "cache", "mode": "shared", "wait_s": 10})
        assert got["mode"] == "shared"
        with pytest.raises(NotFoundError, match="expired: its lease ran out"):
            await a.call("lock.renew", {"lock_id": held["lock_id"]})


async def test_a_wait_that_would_deadlock_is_refused_with_the_cycle(
    orch: OrchestratorProcess,
) -> None:
    async with await orch.client() as a, await orch.client() as b:
        await a.call("lock.acquire", {"resource": "alpha", "mode": "exclusive"})
        held_b = await b.call("lock.acquire", {"resource": "beta", "mode": "exclusive"})
        waiting = asyncio.create_task(
            a.call("lock.acquire", {"resource": "beta", "mode": "exclusive", "wait_s": 20})
        )
        await _until_listed(b, lambda x: len(x["waiting"]) == 1)
        with pytest.raises(ConflictError) as refused:
            await b.call("lock.acquire", {"resource": "alpha", "mode": "shared", "wait_s": 20})
        message = refused.value.message
        assert message.startswith("deadlock: ")
        assert "asks for 'alpha' shared" in message and "holds 'alpha' exclusive" in message
        assert "waits for 'beta' exclusive" in message and "holds 'beta' exclusive" in message
        assert refused.value.data["cycle"][0].endswith("asks for 'alpha' shared")
        # the refused request left nothing behind; the other wait goes on and is served
        assert len((await b.call("lock.list"))["waiting"]) == 1
        await b.call("lock.release", {"lock_id": held_b["lock_id"]})
        assert (await waiting)["resource"] == "beta"
        # asking for what you hold, incompatibly, is the shortest cycle
        with pytest.raises(ConflictError, match=r"deadlock: .*asks for 'alpha' exclusive"):
            await a.call("lock.acquire", {"resource": "alpha", "mode": "exclusive", "wait_s": 5})


async def test_bad_lock_requests_name_the_parameter(orch: OrchestratorProcess) -> None:
    async with await orch.client() as a:
        cases = [
            ({"resource": "x", "mode": "write"}, "mode must be 'shared' or 'exclusive'"),
            ({"resource": "x", "mode": "shared", "lease_s": -1}, "lease_s must be"),
            ({"resource": "x", "mode": "shared", "wait_s": 99999}, "wait_s must be"),
            ({"resource": " ", "mode": "shared"}, "resource must be non-empty"),
            ({"resource": "x", "mode": "shared", "owner": "me"}, "unknown parameter 'owner'"),
        ]
        for params, message in cases:
            with pytest.raises(InvalidArgumentError, match=message):
                await a.call("lock.acquire", params)
        with pytest.raises(NotFoundError, match="no lock 'lk-nope'"):
            await a.call("lock.release", {"lock_id": "lk-nope"})
        with pytest.raises(TimeoutError_, match=r"not granted within wait_s=0\.2"):
            await a.call("lock.acquire", {"resource": "y", "mode": "exclusive"})
            async with await orch.client() as b:
                await b.call("lock.acquire", {"resource": "y", "mode": "shared", "wait_s": 0.2})
