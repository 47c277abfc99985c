"""Locks written through to orchestrator.db and given back after a restart, through a real
orchestrator process SIGKILLed and started again on the same state, real tmux and real
SQLite: a re-attached agent's and a re-attached swarm task's locks are still held (with
the lease they had left), a connection's lock and the lock of an agent whose pane died
while the orchestrator was down are gone; and an agent whose process ends releases its
locks."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from orchestrator.coordination.lock_journal import LockJournal
from orchestrator.coordination.lock_repository import LockRepository, Put
from orchestrator.coordination.lock_restore import restore
from orchestrator.coordination.locks import LockManager, LockMode
from orchestrator.schema import open_state_db
from orchflow_core.errors import ConflictError
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.test_mcp_http import http_client, payload
from tests.orchestrator.test_swarm_api import settled, task_state


async def _until(client: RpcClient, method: str, params: Any, pred: Any, within: float = 20) -> Any:
    async with asyncio.timeout(within):
        while True:
            got = await client.call(method, params)
            if pred(got):
                return got
            await asyncio.sleep(0.05)


def _held(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lock["resource"]: lock for lock in listing["locks"]}


def _rows(base: Path) -> dict[str, str]:
    db = sqlite3.connect(base / "state" / "orchestrator.db")
    try:
        return dict(db.execute("SELECT resource, owner_label FROM locks").fetchall())
    finally:
        db.close()


async def test_locks_of_reattached_owners_survive_a_sigkill_and_a_connections_do_not(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    base = tmp_path / "home"
    flag = tmp_path / "deploy-done"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            migrator = await client.call(
                "agent.create",
                {
                    "type": "custom",
                    "name": "migrator",
                    "command": "sleep 600",
                    "locks": [{"resource": "db:main", "mode": "exclusive"}],
                },
            )
            doomed = await client.call(
                "agent.create",
                {
                    "type": "custom",
                    "name": "doomed",
                    "command": "sleep 600",
                    "locks": [{"resource": "cache", "mode": "exclusive"}],
                },
            )
            mine = await client.call("lock.acquire", {"resource": "scratch", "mode": "exclusive"})
            submitted = await client.call(
                "swarm.submit",
                {
                    "tasks": [
                        {
                            "id": "deploy",
                            "command": f"while [ ! -e {flag} ]; do sleep 0.1; done; echo deployed",
                            "locks": [{"resource": "prod", "mode": "exclusive"}],
                        }
                    ]
                },
            )
            swarm_id = submitted["swarm_id"]
            await task_state(client, swarm_id, "deploy", ("running",))
            before = _held(await client.call("lock.list"))
            assert set(before) == {"db:main", "cache", "scratch", "prod"}
    finally:
        server.proc.send_signal(signal.SIGKILL)
        await server.proc.wait()
    # what a killed orchestrator left: every lock of an owner that outlives it is a row (a
    # connection's is written off its round trip, so it may not be yet: it is dropped anyway)
    rows = _rows(base)
    assert rows.pop("scratch", before["scratch"]["owner"]) == before["scratch"]["owner"]
    assert rows == {
        "db:main": "agent migrator",
        "cache": "agent doomed",
        "prod": f"swarm {swarm_id} task deploy",
    }
    # while it is down, one agent's pane goes: it cannot be re-attached
    private_tmux.run("kill-pane", "-t", doomed["pane_id"])

    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            listing = await _until(
                client, "lock.list", None, lambda x: "cache" not in _held(x), within=30
            )
            held = _held(listing)
            assert set(held) == {"db:main", "prod"}  # scratch went with its connection
            db_main = held["db:main"]
            assert db_main["owner"] == "agent migrator" and db_main["restored"] is True
            # the same lock, with the lease it had left
            assert db_main["lock_id"] == before["db:main"]["lock_id"]
            assert db_main["expires_at"] == before["db:main"]["expires_at"]
            assert held["prod"]["owner"] == f"swarm {swarm_id} task deploy"
            with pytest.raises(ConflictError, match="'db:main' is held by agent migrator"):
                await client.call("lock.acquire", {"resource": "db:main", "mode": "exclusive"})
            with pytest.raises(ConflictError, match=f"'prod' is held by swarm {swarm_id}"):
                await client.call("lock.acquire", {"resource": "prod", "mode": "shared"})
            again = await client.call("lock.acquire", {"resource": "scratch", "mode": "exclusive"})
            assert again["lock_id"] != mine["lock_id"]
            cache = await client.call("lock.acquire", {"resource": "cache", "mode": "exclusive"})
            assert cache["owner"].startswith("connection")
            got = await client.call("agent.get", {"id": "migrator"})
            assert got["id"] == migrator["id"]
            assert [lock["resource"] for lock in got["locks"]] == ["db:main"]
            # the re-attached task holds its lock until it ends
            flag.touch()
            status = await settled(client, swarm_id)
            assert status["tasks"][0]["state"] == "succeeded"
            listing = await _until(
                client, "lock.list", None, lambda x: "prod" not in _held(x), within=10
            )
            stopped = await client.call("agent.stop", {"id": "migrator"})
            assert stopped["locks_released"] == 1
            assert "db:main" not in _held(await client.call("lock.list"))
            free = await client.call("lock.acquire", {"resource": "db:main", "mode": "exclusive"})
            assert free["owner"].startswith("connection")
    finally:
        await server.stop()
    assert _rows(base) == {}  # the connection's locks went when it closed
    log = (base / "log" / "orchestrator.log").read_text()
    assert "released 1 restored locks of agent doomed ('cache')" in log
    assert "agent migrator re-attached: its locks are kept" in log


async def test_a_graceful_restart_keeps_an_agents_locks(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        created = await server.call(
            "agent.create",
            {
                "type": "custom",
                "name": "keeper",
                "command": "sleep 600",
                "locks": [{"resource": "x"}],
            },
        )
    finally:
        assert await server.stop() == 0  # SIGTERM: the agent's pane keeps running
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            got = await _until(client, "agent.get", {"id": "keeper"}, lambda a: a["locks"])
            assert [lock["lock_id"] for lock in got["locks"]] == [created["locks"][0]["lock_id"]]
            with pytest.raises(ConflictError, match="'x' is held by agent keeper"):
                await client.call("lock.acquire", {"resource": "x", "mode": "shared"})
    finally:
        await server.stop()
    assert _rows(base) == {"x": "agent keeper"}


async def test_an_agent_whose_process_ends_releases_its_locks(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            short = await client.call(
                "agent.create",
                {
                    "type": "custom",
                    "name": "short",
                    "command": "sh -c 'read line; exit 3'",
                    "locks": [{"resource": "db:main", "mode": "exclusive"}, {"resource": "q"}],
                },
            )
            assert [lock["resource"] for lock in short["locks"]] == ["db:main", "q"]
            with pytest.raises(ConflictError, match="agent short"):
                await client.call("lock.acquire", {"resource": "db:main", "mode": "exclusive"})
            await client.call("agent.send", {"id": "short", "text": "bye"})
            # nobody asks about the agent: the orchestrator notices its end by itself
            listing = await _until(client, "lock.list", None, lambda x: x["locks"] == [])
            assert listing["waiting"] == []
            got = await client.call("agent.get", {"id": "short"})
            assert got["state"] == "exited" and got["exit_code"] == 3 and got["locks"] == []
            taken = await client.call("lock.acquire", {"resource": "db:main", "mode": "exclusive"})
            assert taken["owner"].startswith("connection")
            stopped = await client.call("agent.stop", {"id": "short"})
            assert stopped["locks_released"] == 2  # released when it ended
    finally:
        await server.stop()
    log = (base / "log" / "orchestrator.log").read_text()
    assert (
        f"agent short ({short['id']}) ended, its process exited (code 3): released its 2 locks"
        in log
    )


async def test_a_lock_taken_over_mcp_http_outlives_a_sigkill(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with http_client(server) as mcp:
            lock = payload(
                await mcp.call_tool("lock_acquire", {"resource": "port-8000", "mode": "exclusive"})
            )
    finally:
        server.proc.send_signal(signal.SIGKILL)
        await server.proc.wait()
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as rpc:
            held = (await rpc.call("lock.list"))["locks"]
            assert [(h["lock_id"], h["owner"], h.get("restored")) for h in held] == [
                (lock["lock_id"], "mcp-http", True)
            ]
            assert held[0]["expires_at"] == lock["expires_at"]
            with pytest.raises(ConflictError, match="'port-8000' is held by mcp-http"):
                await rpc.call("lock.acquire", {"resource": "port-8000", "mode": "shared"})
        async with http_client(server) as mcp:
            payload(await mcp.call_tool("lock_release", {"lock_id": lock["lock_id"]}))
        async with await server.client() as rpc:
            assert (await rpc.call("lock.list"))["locks"] == []
    finally:
        await server.stop()
    assert _rows(base) == {}


async def test_a_swarm_task_killed_while_waiting_for_a_lock_takes_its_locks_again(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    """A task that held one of its locks and waited for the other when the orchestrator
    was SIGKILLed is pending after the restart: the lock it held is not left against it."""
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            await client.call("lock.acquire", {"resource": "b", "mode": "exclusive"})
            submitted = await client.call(
                "swarm.submit",
                {
                    "tasks": [
                        {
                            "id": "both",
                            "command": "echo got-both",
                            "locks": [{"resource": "a"}, {"resource": "b"}],
                        }
                    ]
                },
            )
            swarm_id = submitted["swarm_id"]
            await _until(client, "lock.list", None, lambda x: len(x["waiting"]) == 1)
            assert "a" in _held(await client.call("lock.list"))
    finally:
        server.proc.send_signal(signal.SIGKILL)
        await server.proc.wait()
    assert set(_rows(base)) == {"a", "b"}
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        async with await server.client() as client:
            status = await settled(client, swarm_id)
            task = status["tasks"][0]
            assert task["state"] == "succeeded" and "got-both" in task["output_tail"]
            assert (await client.call("lock.list"))["locks"] == []
    finally:
        await server.stop()
    assert _rows(base) == {}


async def test_restore_keeps_durable_owners_with_their_lease_left(tmp_path: Path) -> None:
    """The restore rules on a real orchestrator.db: mcp-http kept, agents and swarm tasks
    until settled unless claimed, connections and expired leases dropped (rows gone)."""
    db = await open_state_db(tmp_path)
    try:
        repo = LockRepository(db)
        now = 1_000_000.0

        def row(lock_id: str, resource: str, owner: str, expires_at: float) -> Put:
            return Put(lock_id, resource, "exclusive", owner, owner, now - 5, expires_at, 60.0)

        await repo.apply(
            [
                row("lk-mcp", "a", "mcp-http", now + 30),
                row("lk-agent", "b", "agent:p-1", now + 40),
                row("lk-gone", "c", "agent:p-2", now + 40),
                row("lk-task", "d", "swarm:s1/t1", now + 50),
                row("lk-conn", "e", "conn-7", now + 50),
                row("lk-old", "f", "mcp-http", now - 1),
                row("lk-start", "g", "agent-0123abcd", now + 50),
            ]
        )
        locks = LockManager(clock=lambda: now)
        locks.journal = LockJournal(repo)
        counts = await restore(locks, repo, clock=lambda: now)
        assert counts == {"restored": 1, "provisional": 3, "dropped": 3}
        assert locks.claim("agent:p-1") == 1 and locks.claim("swarm:s1/t1") == 1
        assert locks.settle() == 1  # agent p-2 was not re-attached
        listed = {lk["lock_id"]: lk for lk in locks.list()["locks"]}
        assert set(listed) == {"lk-mcp", "lk-agent", "lk-task"}
        assert listed["lk-mcp"]["expires_at"] == now + 30 and listed["lk-mcp"]["restored"]
        with pytest.raises(ConflictError, match="held by mcp-http"):
            await locks.acquire("conn-1", "connection 1", "a", LockMode.SHARED)
        await locks.durable()
        stored = {r["lock_id"] for r in await db.fetchall("SELECT lock_id FROM locks")}
        assert stored == {"lk-mcp", "lk-agent", "lk-task"}
        locks.close()
    finally:
        await db.close()
