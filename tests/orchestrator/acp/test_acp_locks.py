"""AI agents that end release their locks (orchestrator/agents/leases.py): an ACP agent that
crashes (state ``error``) and a terminal agent whose process is killed (state ``exited``);
the ``agent.state`` event that says so carries ``locks: []`` and other clients may take
them. A real orchestrator process; the scripted agent stands in for a paid model."""

from __future__ import annotations

import os
import signal

import pytest

from orchflow_core.errors import ConflictError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import Watcher, wait_state
from tests.orchestrator.server_process import OrchestratorProcess


async def test_an_acp_agent_that_crashes_releases_its_locks(
    watcher: Watcher, acp_orch: OrchestratorProcess
) -> None:
    client = watcher.client
    created = await client.call(
        "agent.create",
        {
            "type": "ai",
            "agent": "scripted",
            "name": "crasher",
            "locks": [{"resource": "db:main", "mode": "exclusive"}],
        },
    )
    assert [lock["resource"] for lock in created["locks"]] == ["db:main"]
    await wait_state(client, created["id"], {"idle"})
    async with await acp_orch.client() as other:
        with pytest.raises(ConflictError, match="'db:main' is held by agent crasher"):
            await other.call("lock.acquire", {"resource": "db:main", "mode": "exclusive"})
        await client.call("agent.prompt", {"id": "crasher", "text": "crash"})
        err = await watcher.wait_for(
            lambda m, p: m == "agent.state" and p["id"] == created["id"] and p["state"] == "error"
        )
        assert err["locks"] == []
        taken = await other.call("lock.acquire", {"resource": "db:main", "mode": "exclusive"})
        assert taken["owner"].startswith("connection")
    assert (await client.call("agent.get", {"id": "crasher"}))["locks"] == []
    log = (acp_orch.base / "log" / "orchestrator.log").read_text()
    assert f"agent crasher ({created['id']}) ended, state error (" in log
    assert "released its 1 locks" in log


async def test_a_terminal_agent_whose_process_is_killed_releases_its_locks(
    watcher: Watcher, private_tmux: TmuxServer
) -> None:
    client = watcher.client
    created = await client.call(
        "agent.create",
        {"type": "ai", "agent": "tui", "name": "tui1", "locks": [{"resource": "deploy"}]},
    )
    assert [lock["resource"] for lock in created["locks"]] == ["deploy"]
    pid = int(private_tmux.run("display", "-p", "-t", created["pane_id"], "#{pane_pid}").strip())
    os.kill(pid, signal.SIGKILL)
    ended = await watcher.wait_for(
        lambda m, p: m == "agent.state" and p["id"] == created["id"] and p["state"] == "exited"
    )
    assert ended["locks"] == []
    assert (await client.call("lock.list"))["locks"] == []
    got = await client.call("agent.get", {"id": created["id"]})
    assert got["state"] == "exited" and got["locks"] == []
