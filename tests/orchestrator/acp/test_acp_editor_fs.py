"""ACP fs/* when no editor serves the buffers: a real orchestrator process and the scripted
ACP agent (a stand-in for a paid model). With Neovim attached, tests/frontend/
test_agent_fs_ui.py covers the buffers themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import InvalidArgumentError
from tests.orchestrator.acp.conftest import Watcher, wait_state
from tests.orchestrator.server_process import OrchestratorProcess


async def _turn(watcher: Watcher, agent: dict[str, Any], text: str) -> str:
    before = len(watcher.text(agent["id"]))
    await watcher.client.call("agent.prompt", {"id": agent["id"], "text": text})
    await watcher.wait_for(
        lambda m, p: m == "agent.turn" and p["id"] == agent["id"] and p["text"] == text
    )
    return watcher.text(agent["id"])[before:]


async def _ready(watcher: Watcher, name: str) -> dict[str, Any]:
    made = await watcher.client.call(
        "agent.create", {"type": "ai", "agent": "scripted", "name": name}
    )
    return await wait_state(watcher.client, made["id"], {"idle"})


async def _sources(watcher: Watcher, agent: dict[str, Any]) -> list[tuple[str, str]]:
    got = await watcher.client.call("agent.updates", {"id": agent["id"]})
    return [
        (u["kind"], u["data"]["source"])
        for u in got["updates"]
        if u["kind"] in ("fs_read", "fs_write")
    ]


async def test_no_editor_attached_means_the_disk(watcher: Watcher, workdir: Path) -> None:
    agent = await _ready(watcher, "diskonly")
    assert "read=inside the project" in await _turn(watcher, agent, f"read: {workdir}/notes.txt")
    out = await _turn(watcher, agent, f"write: {workdir}/notes.txt rewritten\\n")
    assert "write=ok" in out and f"[wrote] {workdir}/notes.txt\n" in out
    assert (workdir / "notes.txt").read_text() == "rewritten\n"
    assert await _sources(watcher, agent) == [("fs_read", "disk"), ("fs_write", "disk")]


async def test_an_editor_that_never_answers_falls_back_to_disk_and_logs(
    watcher: Watcher, workdir: Path, acp_orch: OrchestratorProcess
) -> None:
    silent = await acp_orch.client()  # attaches as an editor, then ignores editor.fs
    asked: list[dict[str, Any]] = []
    silent.on_notification("editor.fs", asked.append)
    async with silent:
        assert (await silent.call("editor.attach", {}))["attached"] is True
        agent = await _ready(watcher, "patient")
        out = await _turn(watcher, agent, f"read: {workdir}/notes.txt")
        assert "read=inside the project" in out
        assert asked and asked[0]["op"] == "read" and asked[0]["path"] == f"{workdir}/notes.txt"
        late = await silent.call(
            "editor.fs_reply", {"request_id": asked[0]["request_id"], "loaded": False}
        )
        assert late == {"delivered": False}  # the wait had ended: the disk was used
    assert "did not answer read" in acp_orch.log_file.read_text()
    # the editor is gone: the next call goes to the disk without asking anyone
    out = await _turn(watcher, agent, f"write: {workdir}/notes.txt after\\n")
    assert "write=ok" in out and (workdir / "notes.txt").read_text() == "after\n"
    assert len(asked) == 1
    assert await _sources(watcher, agent) == [("fs_read", "disk"), ("fs_write", "disk")]


async def test_editor_fs_reply_names_a_bad_parameter(watcher: Watcher) -> None:
    with pytest.raises(InvalidArgumentError, match="loaded"):
        await watcher.client.call("editor.fs_reply", {"request_id": "fs1", "loaded": "yes"})
    with pytest.raises(InvalidArgumentError, match="needs content"):
        await watcher.client.call("editor.fs_reply", {"request_id": "fs1", "loaded": True})
    got = await watcher.client.call("editor.fs_reply", {"request_id": "nope", "loaded": False})
    assert got == {"delivered": False}


async def test_system_features_says_fs_goes_through_neovim_buffers(watcher: Watcher) -> None:
    acp = (await watcher.client.call("system.features"))["features"]["agents.acp"]
    assert "through the attached Neovim's buffers" in acp["reason"]
    assert {"editor.attach", "editor.fs_reply"} <= set(acp["methods"])
