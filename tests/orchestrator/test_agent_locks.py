"""The locks an agent holds (orchestrator/agents/leases.py), through a real orchestrator
process, real tmux and a real git repository: locks declared at agent.create, taken before
anything starts and refused at once when held; a worktree's port leased as ``port:<n>``; all
released by agent.stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.test_agent_worktree import repo, start  # noqa: F401 - the fixture


@pytest.fixture
async def orch_repo(
    tmp_path: Path,
    private_tmux: TmuxServer,
    repo: Path,  # noqa: F811 - the fixture
) -> AsyncIterator[OrchestratorProcess]:
    server = await start(tmp_path, private_tmux, repo, setup_timeout_s=20)
    try:
        yield server
    finally:
        await server.stop()


def held(listing: dict) -> list[tuple[str, str, str]]:
    return [(lock["resource"], lock["mode"], lock["owner"]) for lock in listing["locks"]]


async def test_declared_locks_and_the_worktree_port_are_held_while_the_agent_lives(
    orch_repo: OrchestratorProcess, private_tmux: TmuxServer
) -> None:
    async with await orch_repo.client() as client:
        one = await client.call(
            "agent.create",
            {
                "type": "custom",
                "name": "migrator",
                "command": "sleep 300",
                "locks": [{"resource": "db", "mode": "exclusive"}, {"resource": "cache"}],
            },
        )
        assert [(lock["resource"], lock["owner"]) for lock in one["locks"]] == [
            ("db", "agent migrator"),
            ("cache", "agent migrator"),
        ]
        # another agent declaring the same lock is refused before anything starts
        with pytest.raises(ConflictError, match="'db' is held by agent migrator"):
            await client.call(
                "agent.create",
                {
                    "type": "custom",
                    "name": "second",
                    "command": "sleep 300",
                    "locks": [{"resource": "queue"}, {"resource": "db"}],
                },
            )
        names = private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_name}").split()
        assert "second" not in names
        listing = await client.call("lock.list")
        assert ("queue", "exclusive", "agent (starting)") not in held(listing)  # given back
        # a client is refused too, naming the agent
        with pytest.raises(ConflictError, match="agent migrator"):
            await client.call("lock.acquire", {"resource": "db", "mode": "exclusive"})
        with pytest.raises(InvalidArgumentError, match=r"locks\[0\]"):
            await client.call(
                "agent.create", {"type": "custom", "command": "true", "locks": [{"x": 1}]}
            )

        # a worktree's port is a lease too
        wt = await client.call(
            "agent.create",
            {"type": "custom", "name": "wt1", "command": "sleep 300", "worktree": True},
        )
        port = wt["worktree"]["port"]
        assert (f"port:{port}", "exclusive", "agent wt1") in held(await client.call("lock.list"))
        got = await client.call("agent.get", {"id": "wt1"})
        assert [lock["resource"] for lock in got["locks"]] == [f"port:{port}"]

        stopped = await client.call("agent.stop", {"id": "migrator"})
        assert stopped["locks_released"] == 2
        stopped = await client.call("agent.stop", {"id": "wt1", "remove_worktree": True})
        assert stopped["locks_released"] == 1
        assert (await client.call("lock.list"))["locks"] == []
        taken = await client.call("lock.acquire", {"resource": "db", "mode": "exclusive"})
        assert taken["resource"] == "db"
