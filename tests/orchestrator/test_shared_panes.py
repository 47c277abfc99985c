"""A real orchestrator process and an in-test "Neovim host" manager on the same tmux
server and the same orchflow.db (doc/architecture.md, "Who writes what")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.core import Core
from orchflow_core.errors import InvalidArgumentError
from tests.harness.editor import ROOT
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess

CONF = str(ROOT / "tests" / "tmux.conf")


@pytest.fixture
async def host(
    orch: OrchestratorProcess, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Core]:
    """The host's Core on the orchestrator's state dir (so: its orchflow.db)."""
    monkeypatch.setenv("ORCHFLOW_STATE_DIR", str(orch.base / "state"))
    core = Core({"tmux": {"config_file": CONF}}, role="host")
    yield core
    await core.close()


async def test_session_save_reports_what_the_host_ran_and_the_host_sees_agents(
    orch: OrchestratorProcess, host: Core, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    pid = orch.proc.pid
    async with await orch.client() as client:
        await client.call("session.create", {"name": "work", "cwd": str(work)})
        agent = await client.call(
            "agent.create", {"type": "dev", "command": "cat", "name": "srv", "session": "work"}
        )
        tm = await host.terminals()
        seen = {p["name"]: p for p in await tm.panes()}
        assert (seen["srv"]["id"], seen["srv"]["command"], seen["srv"]["owner"]) == (
            agent["id"],
            "cat",
            f"orchestrator:{pid}",
        )
        assert seen["srv"]["meta"] == {"agent": True, "source": None}

        shell = await tm.new_pane(name="edit", session="work", cwd=str(work))
        done = asyncio.Event()
        host.events.subscribe(lambda _e: done.set(), kinds={"command.finished"})
        await tm.run("edit", "echo ran-in-neovim")
        await asyncio.wait_for(done.wait(), timeout=10)

        saved = await client.call("session.save", {"name": "work"})
        by_name = {p["name"]: p for p in saved["panes"]}
        assert by_name["edit"] == {
            "type": "shell",
            "name": "edit",
            "cwd": str(work),
            "command": None,
            "last_command": "echo ran-in-neovim",
            "agent_type": None,
        }
        assert by_name["srv"]["agent_type"] == "dev" and by_name["srv"]["command"] == "cat"
        # The orchestrator lists only its agents, and sees the host's pane as the host made it.
        assert [a["name"] for a in await client.call("agent.list")] == ["srv"]
        sessions = await client.call("session.list")
        [edit] = [p for s in sessions for p in s["panes"] if p["name"] == "edit"]
        assert (edit["id"], edit["owner"]) == (shell["id"], shell["owner"])

    # Both reconcile again and again: one row per pane, creation facts intact.
    for _ in range(2):
        await tm.reconcile()
        await orch.call("session.list")
    db = await host.db()
    stored = {
        r["name"]: (r["command"], r["owner"], r["state"])
        for r in await db.fetchall("SELECT name, command, owner, state FROM panes")
    }
    assert stored == {
        "srv": ("cat", f"orchestrator:{pid}", "idle"),
        "edit": (None, shell["owner"], "idle"),
    }


async def test_agents_of_an_orchestrator_db_made_before_version_2_are_carried_over(
    isolated: Path,
    tmp_path: Path,
    private_tmux: TmuxServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestrator.schema import DB_NAME, MIGRATIONS
    from orchflow_core.store.database import Database
    from tests.orchestrator.server_process import server_env

    base = tmp_path / "orch-home"
    server_env(base, private_tmux.socket)  # makes the dirs
    monkeypatch.setenv("ORCHFLOW_STATE_DIR", str(base / "state"))
    # What the old orchestrator left: a pane in orchflow.db (no meta) and its agents row.
    old = Core({"tmux": {"config_file": CONF}}, role="orchestrator")
    pane = await (await old.terminals()).new_pane(pane_type="repl", name="keeper", command="cat")
    await old.close()
    legacy = await Database.open(base / "state" / DB_NAME, migrations=MIGRATIONS[:1])
    await legacy.execute(
        "INSERT INTO agents(id, type, name, command, source, cwd, session, created_at)"
        " VALUES (?, 'repl', 'keeper', 'cat', 'detected here', '/', 'orchflow', 0)",
        (pane["id"],),
    )
    await legacy.close()
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        [agent] = await server.call("agent.list")
        assert (agent["id"], agent["name"], agent["source"]) == (
            pane["id"],
            "keeper",
            "detected here",
        )
    finally:
        await server.stop()


async def test_runs_the_host_made_are_the_orchestrators_runs_too(
    orch: OrchestratorProcess, host: Core, private_tmux: TmuxServer
) -> None:
    """run.* over JSON-RPC reads the one runs table: a run the host started is listed,
    got and waited for through the orchestrator; unknown parameters are refused."""
    tm = await host.terminals()
    await tm.new_pane(name="edit")
    run = await tm.run("edit", "sleep 0.3; exit 3")
    async with await orch.client() as client:
        waited = await client.call("run.wait", {"id": run["id"], "timeout_s": 10})
        assert (waited["state"], waited["exit_code"], waited["source"]) == ("finished", 3, "run")
        listed = await client.call("run.list", {"limit": 5})
        assert [r["id"] for r in listed] == [run["id"]]
        assert (await client.call("run.get", {"id": run["id"]}))["command"] == "sleep 0.3; exit 3"
        with pytest.raises(InvalidArgumentError, match="nope"):
            await client.call("run.list", {"nope": 1})
        features = (await client.call("system.features"))["features"]
        assert features["runs"]["status"] == "implemented"
        assert features["shell_integration"]["status"] in ("implemented", "disabled")
