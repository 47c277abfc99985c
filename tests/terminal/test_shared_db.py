"""Two processes, one tmux server, one orchflow.db: the "who writes what" rule
(doc/architecture.md). Two Cores here stand for the Neovim host and the orchestrator:
separate TerminalManagers with separate database connections to the same file, over the
same private tmux server; one test uses a real second process."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from orchflow_core.core import Core
from tests.harness.editor import ROOT
from tests.harness.tmux import TmuxServer

CONF = str(ROOT / "tests" / "tmux.conf")
PID = os.getpid()


@pytest.fixture
async def make() -> AsyncIterator[Callable[[str], Core]]:
    """Cores for this test (closed at the end, however it ends)."""
    made: list[Core] = []

    def new(role: str) -> Core:
        made.append(Core({"tmux": {"config_file": CONF}}, role=role))
        return made[-1]

    yield new
    for core in made:
        await core.close()


async def rows(core: Core) -> dict[str, dict[str, object]]:
    db = await core.db()
    found = await db.fetchall(
        "SELECT orchflow_id, name, type, command, owner, state, last_command, metadata FROM panes"
    )
    return {r["orchflow_id"]: dict(r) for r in found}


async def test_two_managers_share_panes_without_adopting_or_blanking(
    isolated: Path, private_tmux: TmuxServer, make: Callable[[str], Core]
) -> None:
    host, orch = make("host"), make("orchestrator")
    tm_host, tm_orch = await host.terminals(), await orch.terminals()
    mine = await tm_host.new_pane(name="editor-shell")
    theirs = await tm_orch.new_pane(
        pane_type="dev", name="server", command="cat", meta={"agent": True, "source": "x"}
    )
    assert theirs["meta"] == {"agent": True, "source": "x"}
    assert theirs["owner"] == f"orchestrator:{PID}" and mine["owner"] == f"host:{PID}"
    for _ in range(3):  # each reconciles and refreshes, again and again
        await tm_host.reconcile()
        await tm_orch.reconcile()
        await tm_host.panes()
        await tm_orch.panes()
    stored = await rows(host)
    assert set(stored) == {mine["id"], theirs["id"]}
    assert stored[theirs["id"]]["command"] == "cat"
    assert stored[theirs["id"]]["owner"] == f"orchestrator:{PID}"
    assert stored[mine["id"]]["owner"] == f"host:{PID}"
    # Each sees the other's pane as the creator recorded it.
    seen = {p["name"]: p for p in await tm_host.panes()}
    assert (seen["server"]["command"], seen["server"]["owner"], seen["server"]["meta"]) == (
        "cat",
        f"orchestrator:{PID}",
        {"agent": True, "source": "x"},
    )
    assert [p["name"] for p in await tm_orch.panes(pane_type="shell")] == ["editor-shell"]
    assert [r.name for r in tm_host.records(meta_key="agent")] == ["server"]

    # A command run from the host in a pane it did not make is persisted and is what the
    # orchestrator reports (session.save reads these pane dicts).
    done = asyncio.Event()
    host.events.subscribe(lambda _e: done.set(), kinds={"command.finished"})
    await tm_host.run("editor-shell", "echo from-the-host")
    await asyncio.wait_for(done.wait(), timeout=10)
    assert (await rows(host))[mine["id"]]["last_command"] == "echo from-the-host"
    listed = {p["name"]: p for p in await tm_orch.panes()}
    assert listed["editor-shell"]["last_command"] == "echo from-the-host"
    assert (await tm_orch.get("editor-shell"))["last_command"] == "echo from-the-host"

    # Restart both: nothing adopted twice, nothing lost, no command blanked.
    await host.close()
    await orch.close()
    host, orch = make("host"), make("orchestrator")
    tm_host, tm_orch = await host.terminals(), await orch.terminals()
    counts = await tm_orch.reconcile()
    assert counts == {"reattached": 2, "adopted": 0, "closed": 0}
    again = await rows(host)
    assert set(again) == set(stored)
    assert again[theirs["id"]]["command"] == "cat"
    assert again[mine["id"]]["last_command"] == "echo from-the-host"
    assert {p["id"]: p["owner"] for p in await tm_host.panes()} == {
        mine["id"]: f"host:{PID}",
        theirs["id"]: f"orchestrator:{PID}",
    }
    ids = private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_id}").split()
    assert sorted(ids) == sorted(stored)

    # A pane closed by one is marked closed (once) by both.
    await tm_orch.close_pane("editor-shell")
    await tm_host.reconcile()
    await tm_orch.reconcile()
    assert (await rows(host))[mine["id"]]["state"] == "closed"
    assert [p["name"] for p in await tm_host.panes()] == ["server"]
    await host.close()
    await orch.close()


async def test_a_lost_database_is_rebuilt_from_tmux_tags_once(
    isolated: Path,
    private_tmux: TmuxServer,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[str], Core],
) -> None:
    orch = make("orchestrator")
    tm = await orch.terminals()
    hostile = "printf '%s\\n' \"a b\" '$(x)' `true`; cat"
    made = await tm.new_pane(pane_type="repl", name="kept", command=hostile)
    await orch.close()
    # Another state dir: no rows. Two managers adopt at once; one row, from the tags.
    monkeypatch.setenv("ORCHFLOW_STATE_DIR", str(isolated / "other-state"))
    first, second = make("host"), make("orchestrator")
    tm1, tm2 = await asyncio.gather(first.terminals(), second.terminals())
    await asyncio.gather(tm1.reconcile(), tm2.reconcile())
    stored = await rows(first)
    assert list(stored) == [made["id"]]
    assert (stored[made["id"]]["command"], stored[made["id"]]["owner"]) == (
        hostile,
        f"orchestrator:{PID}",
    )
    assert (stored[made["id"]]["name"], stored[made["id"]]["type"]) == ("kept", "repl")
    for t in (tm1, tm2):
        assert [(p["name"], p["command"]) for p in await t.panes()] == [("kept", hostile)]
    await first.close()
    await second.close()


OTHER_PROCESS = textwrap.dedent(
    """
    import asyncio, os, sys
    from orchflow_core.core import Core

    async def main():
        core = Core({"tmux": {"config_file": sys.argv[1]}}, role="orchestrator")
        tm = await core.terminals()
        tm2 = await tm.new_pane(pane_type="test", name="from-there", command="cat",
                                meta={"agent": True})
        print(tm2["id"], os.getpid(), flush=True)
        sys.stdin.readline()  # the test says when to go on
        await tm.refresh()
        print(tm.resolve("from-here").command, flush=True)
        await core.close()

    asyncio.run(main())
    """
)


async def test_a_second_process_and_this_one_each_keep_the_others_facts(
    isolated: Path, private_tmux: TmuxServer, make: Callable[[str], Core]
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        OTHER_PROCESS,
        CONF,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=os.environ,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode().split()
    oid, child = line[0], int(line[1])
    host = make("host")
    tm = await host.terminals()
    await tm.new_pane(name="from-here", command="sleep 300")
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    seen_there = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode().strip()
    assert seen_there == "sleep 300"
    assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
    for _ in range(2):
        await tm.reconcile()
    stored = await rows(host)
    assert len(stored) == 2
    assert (stored[oid]["command"], stored[oid]["owner"]) == ("cat", f"orchestrator:{child}")
    assert stored[oid]["metadata"] == '{"agent": true}'
    [here] = [r for r in stored.values() if r["name"] == "from-here"]
    assert (here["command"], here["owner"]) == ("sleep 300", f"host:{PID}")
    await host.close()
