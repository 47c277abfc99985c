"""AI agents get a worktree of their own by default in a git repository (``[worktree] ai``),
and none elsewhere: an ACP agent (the scripted stand-in, real wire format) and a
terminal-transport one, against a real orchestrator, tmux and git. Their work is reviewed
like a pane agent's: review.open sees what the ACP agent wrote through fs/write, the
overlap between the two shows in agent.list, review.send starts a turn, and agent.stop
{remove_worktree} tears the worktree down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.git.test_methods import commit_all, make_repo
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import agents_toml, wait_state
from tests.orchestrator.server_process import OrchestratorProcess


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "proj")
    (root / "notes.txt").write_text("inside the project\n")
    commit_all(root)
    return root


async def start(
    tmp_path: Path, tmux: TmuxServer, project: Path, **wt: object
) -> OrchestratorProcess:
    base = tmp_path / "home"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(agents_toml())
    core = {"worktree": {"dir": str(tmp_path / "worktrees"), "port_min": 47600,
                         "port_max": 47699, **wt}}  # fmt: skip
    return await OrchestratorProcess.start(
        base, tmux.socket, "--core-config", json.dumps(core), project_root=project
    )


@pytest.fixture
async def orch(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> AsyncIterator[OrchestratorProcess]:
    server = await start(tmp_path, private_tmux, repo)
    try:
        yield server
    finally:
        await server.stop()


async def test_ai_agents_get_a_worktree_by_default_and_are_reviewed(
    orch: OrchestratorProcess, repo: Path, tmp_path: Path
) -> None:
    client = await orch.client()
    try:
        bot = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "bot"})
        wt = tmp_path / "worktrees" / "proj" / "bot"
        assert bot["worktree"]["path"] == str(wt) and bot["worktree"]["branch"] == "orchflow/bot"
        assert bot["cwd"] == str(wt)
        await wait_state(client, bot["id"], {"idle"})
        tui = await client.call(
            "agent.create", {"type": "ai", "agent": "tui", "transport": "terminal", "name": "tui"}
        )
        assert tui["worktree"]["path"] == str(tmp_path / "worktrees" / "proj" / "tui")
        # the ACP agent writes through fs/write_text_file, inside its worktree
        await client.call("agent.prompt", {"id": "bot", "text": f"write: {wt}/notes.txt by bot"})
        for _ in range(200):
            if (wt / "notes.txt").read_text() == "by bot":
                break
            await asyncio.sleep(0.05)
        (tmp_path / "worktrees" / "proj" / "tui" / "notes.txt").write_text("by tui\n")
        view = await client.call("review.open", {"agent": "bot"})
        assert [(f["path"], f["status"]) for f in view["files"]] == [("notes.txt", "modified")]
        assert view["overlaps"] == [{"path": "notes.txt", "agents": ["tui"]}]
        rows = {a["name"]: a for a in await client.call("agent.list", {})}
        assert rows["bot"]["overlaps"] == [{"path": "notes.txt", "agents": ["tui"]}]
        assert rows["tui"]["overlaps"] == [{"path": "notes.txt", "agents": ["bot"]}]
        # accept lands in the user's tree
        hunk = view["files"][0]["hunks"][0]["id"]
        result = await client.call("review.accept", {"agent": "bot", "hunks": [hunk]})
        assert result["refused"] == [] and (repo / "notes.txt").read_text() == "by bot"
        # comments go to an ACP agent as a turn
        await client.call(
            "review.comment", {"agent": "bot", "path": "notes.txt", "line": 1, "text": "why?"}
        )
        sent = await client.call("review.send", {"agent": "bot"})
        assert sent["delivery"]["via"] == "agent.prompt" and sent["delivery"]["turn_id"]
        turns = await client.call("agent.turns", {"id": "bot"})
        assert len(turns) == 2
        # the worktree is in use: not an orphan, not cleaned up
        listed = {w["path"]: w for w in await client.call("agent.worktrees", {})}
        assert listed[str(wt)]["agent"] == "bot" and listed[str(wt)]["orphan"] is False
        stopped = await client.call(
            "agent.stop", {"id": "bot", "remove_worktree": True, "force": True}
        )
        assert stopped["worktree"]["removed"] is True and not wt.exists()
    finally:
        await client.close()


async def test_no_worktree_when_asked_or_outside_a_repository(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    server = await start(tmp_path, private_tmux, repo)
    client = await server.client()
    try:
        off = await client.call(
            "agent.create", {"type": "ai", "agent": "tui", "transport": "terminal",
                             "name": "off", "worktree": False},
        )  # fmt: skip
        assert off["worktree"] is None and off["cwd"] == str(repo)
        elsewhere = await client.call(
            "agent.create", {"type": "ai", "agent": "tui", "transport": "terminal",
                             "name": "elsewhere", "cwd": str(plain)},
        )  # fmt: skip
        assert elsewhere["worktree"] is None
    finally:
        await client.close()
        await server.stop()


async def test_config_turns_the_default_off(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> None:
    server = await start(tmp_path, private_tmux, repo, ai=False)
    client = await server.client()
    try:
        agent = await client.call(
            "agent.create", {"type": "ai", "agent": "tui", "transport": "terminal", "name": "t"}
        )
        assert agent["worktree"] is None
        on = await client.call(
            "agent.create", {"type": "ai", "agent": "tui", "transport": "terminal",
                             "name": "t2", "worktree": True},
        )  # fmt: skip
        assert on["worktree"]["branch"] == "orchflow/t2"
    finally:
        await client.close()
        await server.stop()
