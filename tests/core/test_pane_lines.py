"""pane.last_lines (orchflow_core/pane_lines.py) against a real tmux server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.api import dispatch
from orchflow_core.core import Core
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


async def test_last_lines_of_the_panes_asked_for_only(core: Core, private_tmux: TmuxServer) -> None:
    tm = await core.terminals()
    one = await tm.new_pane(command="echo first-line; echo last-line-1; sleep 30")
    two = await tm.new_pane(command="echo other; sleep 30")
    for _ in range(200):
        if "last-line-1" in private_tmux.run("capture-pane", "-p", "-t", one["pane_id"]):
            break
        await asyncio.sleep(0.02)
    ok, lines = await dispatch(core, "pane.last_lines", {"panes": [one["pane_id"], "%999"]})
    assert ok, lines
    assert lines == {one["pane_id"]: "last-line-1"}  # not the other pane; %999 left out
    assert two["pane_id"] not in lines


@pytest.mark.parametrize("panes", [None, "%1", [1], [""], ["%1"] * 201])
async def test_bad_pane_lists_are_named(core: Core, panes: object) -> None:
    ok, err = await dispatch(core, "pane.last_lines", {"panes": panes})
    assert not ok and err["code"] == -32602 and "'panes'" in err["message"]
