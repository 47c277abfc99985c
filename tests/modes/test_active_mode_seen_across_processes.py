"""The active mode and the stored rules are kept in memory between checks (Database.memo),
so a change made by another process (the orchestrator, when the check runs in the Neovim
host; or the other way round) must still be in force at the very next check here: no event,
no wait. The other process is a real one, with its own Core on the same state database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import orchflow_core.modes.methods
import orchflow_core.protocol.methods  # noqa: F401  (registers mode.* and protocol.*)
from orchflow_core.api import dispatch
from orchflow_core.core import Core

REPO = Path(__file__).resolve().parents[2]
COMMIT = "git commit -m wip"  # confirm while the review mode is active (its scoped rule)

OTHER_PROCESS = """
import asyncio, json, sys
from pathlib import Path
import orchflow_core.modes.methods, orchflow_core.protocol.methods
from orchflow_core.api import dispatch
from orchflow_core.core import Core

async def main():
    core = Core(project_root=Path(sys.argv[1]))
    try:
        ok, out = await dispatch(core, sys.argv[2], json.loads(sys.argv[3]))
        assert ok, out
    finally:
        await core.close()

asyncio.run(main())
"""


@pytest.fixture
async def core(isolated: Path, tmp_path: Path) -> AsyncIterator[Core]:
    project = tmp_path / "proj"
    project.mkdir()
    c = Core(project_root=project)
    yield c
    await c.close()


async def in_other_process(core: Core, method: str, params: dict[str, Any]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OTHER_PROCESS, str(core.project_root), method, json.dumps(params),
        cwd=REPO, env=dict(os.environ), stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def check(core: Core, command: str) -> dict[str, Any]:
    ok, verdict = await dispatch(core, "protocol.check", {"command": command})
    assert ok, verdict
    return verdict


async def test_a_mode_set_or_cleared_by_another_process_is_in_force_at_the_next_check(
    core: Core,
) -> None:
    for _ in range(3):  # read and kept: nothing is active
        assert (await check(core, COMMIT))["action"] == "allow"
    await in_other_process(core, "mode.activate", {"name": "review"})
    verdict = await check(core, COMMIT)
    assert verdict["action"] == "confirm" and verdict["rule"] == "no-commit-while-reviewing"
    ok, current = await dispatch(core, "mode.current", {})
    assert ok and current["name"] == "review"
    await in_other_process(core, "mode.deactivate", {})
    assert (await check(core, COMMIT))["action"] == "allow"
    ok, current = await dispatch(core, "mode.current", {})
    assert ok and current["name"] is None


async def test_a_mode_set_here_is_in_force_at_once_and_cleared_at_once(core: Core) -> None:
    assert (await check(core, COMMIT))["action"] == "allow"
    ok, _ = await dispatch(core, "mode.activate", {"name": "review"})
    assert ok
    assert (await check(core, COMMIT))["action"] == "confirm"
    ok, _ = await dispatch(core, "mode.deactivate", {})
    assert ok
    assert (await check(core, COMMIT))["action"] == "allow"


async def test_a_rule_added_or_removed_by_another_process_is_in_force_at_the_next_check(
    core: Core,
) -> None:
    command = "deploy-everything --now"
    assert (await check(core, command))["action"] == "allow"
    rule = {"id": "no-deploy", "pattern": "deploy-everything --now", "action": "block",
            "message": "not from here"}  # fmt: skip
    await in_other_process(core, "protocol.add", rule)
    verdict = await check(core, command)
    assert verdict["action"] == "block" and verdict["rule"] == "no-deploy"
    await in_other_process(core, "protocol.remove", {"id": "no-deploy"})
    assert (await check(core, command))["action"] == "allow"
