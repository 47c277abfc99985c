"""TerminalManager against a real tmux server and a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.events import Event
from orchflow_core.registry import load_methods
from tests.harness.editor import ROOT
from tests.harness.tmux import TmuxServer

load_methods()
CONF = str(ROOT / "tests" / "tmux.conf")


@pytest.fixture
async def core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    c = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    await c.start()
    yield c
    await c.close()


async def _until(tm: Any, ref: str, pred: Any, *, within: float = 10.0) -> Any:
    """Poll ``tm.get(ref)`` until ``pred(pane)`` (bounded): a pane's exit is observed
    when asked for, there is no event to wait on."""
    async with asyncio.timeout(within):
        while not pred(pane := await tm.get(ref)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return pane


async def rows(core: Core, sql: str) -> list[dict[str, object]]:
    db = await core.db()
    return [dict(r) for r in await db.fetchall(sql)]


async def test_panes_are_persisted_and_reattached_without_duplicates(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    first = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    tm = await first.terminals()
    made = await tm.new_pane(pane_type="build", name="builder")
    await first.close()

    second = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    tm2 = await second.terminals()
    panes = await tm2.panes()
    assert [(p["id"], p["name"], p["type"]) for p in panes] == [(made["id"], "builder", "build")]
    assert len(private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_id}").split()) == 1
    db_rows = await rows(second, "SELECT orchflow_id, state FROM panes")
    assert db_rows == [{"orchflow_id": made["id"], "state": "idle"}]
    await second.close()


async def test_vanished_pane_is_marked_closed(core: Core, private_tmux: TmuxServer) -> None:
    tm = await core.terminals()
    keep = await tm.new_pane(name="keep")
    gone = await tm.new_pane(name="gone")
    private_tmux.run("kill-pane", "-t", gone["pane_id"])
    names = [p["name"] for p in await tm.panes()]
    assert names == ["keep"]
    states = {r["orchflow_id"]: r["state"] for r in await rows(core, "SELECT * FROM panes")}
    assert states == {keep["id"]: "idle", gone["id"]: "closed"}


async def test_run_records_exit_code_in_history(core: Core) -> None:
    tm = await core.terminals()
    pane = await tm.new_pane(pane_type="test")
    finished: asyncio.Queue[Event] = asyncio.Queue()
    core.events.subscribe(finished.put_nowait, kinds={"command.finished"})
    await tm.run(pane["pane_id"], "sh -c 'exit 4'")
    event = await asyncio.wait_for(finished.get(), timeout=10)
    assert event.data["exit_code"] == 4 and event.data["command"] == "sh -c 'exit 4'"
    await asyncio.sleep(0.05)  # the history write follows the event
    history = await rows(core, "SELECT command, exit_code, pane_type FROM history")
    assert history == [{"command": "sh -c 'exit 4'", "exit_code": 4, "pane_type": "test"}]
    listed = {p["pane_id"]: p for p in await tm.panes()}
    assert listed[pane["pane_id"]]["state"] == "idle" and listed[pane["pane_id"]]["exit_code"] == 4


async def test_bad_input_is_named(core: Core) -> None:
    tm = await core.terminals()
    with pytest.raises(NotFoundError, match="no pane 'nope'"):
        tm.resolve("nope")
    with pytest.raises(
        InvalidArgumentError, match="split must be one of window, horizontal, vertical"
    ):
        await tm.new_pane(split="diagonal")
    with pytest.raises(InvalidArgumentError, match="contains"):
        await tm.new_pane(name="a:b")
    await tm.new_pane(name="twin")
    with pytest.raises(ConflictError, match="a pane named 'twin' exists already"):
        await tm.new_pane(name="twin")
    with pytest.raises(NotFoundError, match="no session 'ghost'"):
        await tm.switch_session("ghost")


async def test_killed_tmux_server_is_reported_and_recovered(
    core: Core, private_tmux: TmuxServer
) -> None:
    ok, pane = await dispatch(core, "pane.new", {"type": "shell"})
    assert ok
    lost: list[Event] = []
    core.events.subscribe(lost.append, kinds={"tmux.lost"})
    private_tmux.run("kill-server")
    await asyncio.sleep(0.2)
    ok, panes = await dispatch(core, "pane.list", {})
    assert ok and panes == []  # a new server: the old pane died with the old one
    assert lost and lost[0].data["closed"] == 1
    ok, again = await dispatch(core, "pane.new", {"type": "shell"})
    assert ok and again["pane_id"].startswith("%")
    state = await rows(core, f"SELECT state FROM panes WHERE orchflow_id = '{pane['id']}'")
    assert state == [{"state": "closed"}]


KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, os, sys
    from orchflow_core.core import Core

    async def main():
        core = Core({"tmux": {"config_file": sys.argv[1]}})
        tm = await core.terminals()
        made = await tm.new_pane(pane_type="dev", name="durable")
        print(made["id"], flush=True)
        await asyncio.sleep(60)  # killed here

    asyncio.run(main())
    """
)


async def test_kill_9_of_the_host_loses_no_committed_metadata(
    core: Core, isolated: Path, private_tmux: TmuxServer
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_WRITER, CONF, stdout=asyncio.subprocess.PIPE, env=os.environ
    )
    assert proc.stdout is not None
    oid = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    stored = await rows(core, "SELECT orchflow_id, name, type FROM panes")
    assert stored == [{"orchflow_id": oid.strip(), "name": "durable", "type": "dev"}]
    tm = await core.terminals()
    assert [p["id"] for p in await tm.panes()] == [oid.strip()]


async def test_a_typed_pane_without_a_command_runs_the_detected_one(
    core: Core, tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Makefile").write_text("test:\n\t@echo detected-$$((6*7))\n")
    ok, pane = await dispatch(core, "pane.new", {"type": "test", "cwd": str(project)})
    assert ok, pane
    assert (pane["command"], pane["meta"]["source"], pane["cwd"]) == (
        "make test",
        "Makefile target test",
        str(project),
    )
    tm = await core.terminals()
    exited = await _until(tm, pane["id"], lambda p: p["state"] == "exited")
    assert exited["exit_code"] == 0
    assert "detected-42" in await tm.capture(pane["id"], lines=100)
    empty = tmp_path / "empty"
    empty.mkdir()
    ok, err = await dispatch(core, "pane.new", {"type": "lint", "cwd": str(empty)})
    assert not ok and err["message"].startswith("no lint command found: no Makefile")
    assert str(empty) in err["message"] and err["data"]["param"] == "cmd"


async def test_renaming_to_the_name_of_a_killed_session_works(
    core: Core, private_tmux: TmuxServer
) -> None:
    """The killed session's row keeps its name (closed): the rename moves it aside instead of
    failing after tmux already renamed (tmux and SQLite out of step)."""
    tm = await core.terminals()
    await tm.new_session("old")
    await tm.new_pane(name="gone", session="old")
    await tm.kill_session("old")
    await tm.new_session("fresh")
    kept = await tm.new_pane(name="kept", session="fresh")
    await tm.rename_session("fresh", "old")
    assert "old" in private_tmux.run("list-sessions", "-F", "#{session_name}").split()
    live = await rows(core, "SELECT name, closed_at FROM sessions WHERE closed_at IS NULL")
    assert [r["name"] for r in live] == ["old"]
    pane = await rows(core, f"SELECT session FROM panes WHERE orchflow_id = '{kept['id']}'")
    assert pane == [{"session": "old"}]
    gone = await rows(core, "SELECT session FROM panes WHERE name = 'gone'")
    assert gone[0]["session"].startswith("old~")
    assert tm.resolve("kept").session == "old"
