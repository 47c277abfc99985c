"""Unsent review comments survive an orchestrator restart: a real orchestrator process is
killed (SIGKILL, no chance to save anything) between review.comment and review.send, a new
one on the same state directory lists the comments in review.open and sends them to the
agent's pane (the agent, a real tmux pane running ``cat``, outlived the orchestrator), with
their ``path:line``; the rows in orchestrator.db are marked sent and stay so after another
restart."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from tests.git.test_methods import commit_all, make_repo
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess
from tests.orchestrator.test_review import BASE_TEXT, new_agent, output_with


async def _start(tmp_path: Path, tmux: TmuxServer, repo: Path) -> OrchestratorProcess:
    config = {"worktree": {"dir": str(tmp_path / "worktrees"), "port_min": 47600,
                           "port_max": 47699}}  # fmt: skip
    return await OrchestratorProcess.start(
        tmp_path / "home", tmux.socket, "--core-config", json.dumps(config), project_root=repo
    )


def _rows(tmp_path: Path) -> list[tuple[str, int, str, bool]]:
    db = tmp_path / "home" / "state" / "orchestrator.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT path, line, text, sent_at IS NOT NULL FROM review_comments ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2], bool(r[3])) for r in rows]


async def test_unsent_comments_survive_a_restart_and_reach_the_agent(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    repo = make_repo(tmp_path / "proj")
    (repo / "app.py").write_text(BASE_TEXT)
    commit_all(repo)
    server = await _start(tmp_path, private_tmux, repo)
    try:
        async with await server.client() as client:
            wt = await new_agent(client, "agent1", command="cat")
            (wt / "app.py").write_text(BASE_TEXT.replace("line 7\n", "line seven\n"))
            made = await client.call(
                "review.comment",
                {"agent": "agent1", "path": "app.py", "line": 7, "text": "keep the digit"},
            )
            assert made["count"] == 1
        server.proc.kill()
        assert await server.wait() == -signal.SIGKILL
    finally:
        if server.proc.returncode is None:
            await server.stop()
    assert _rows(tmp_path) == [("app.py", 7, "keep the digit", False)]

    again = await _start(tmp_path, private_tmux, repo)
    try:
        async with await again.client() as client:
            row = (await client.call("system.features", {}))["features"]["review"]
            assert "orchestrator.db" in row["comments"]
            view = await client.call("review.open", {"agent": "agent1"})
            assert [(c["id"], c["path"], c["line"], c["text"]) for c in view["comments"]] == [
                (made["comment"]["id"], "app.py", 7, "keep the digit")
            ]
            # a second comment after the restart numbers on and goes in the same prompt
            more = await client.call(
                "review.comment", {"agent": "agent1", "path": "app.py", "line": 2, "text": "ok"}
            )
            assert more["count"] == 2
            result = await client.call("review.send", {"agent": "agent1"})
            assert result["sent"] == 2
            assert "- app.py:2: ok\n- app.py:7: keep the digit\n" in result["prompt"]
            screen = await output_with(client, "agent1", "app.py:7: keep the digit")
            assert "app.py:2: ok" in screen
            assert (await client.call("review.open", {"agent": "agent1"}))["comments"] == []
    finally:
        await again.stop()
    assert [r[3] for r in _rows(tmp_path)] == [True, True]

    third = await _start(tmp_path, private_tmux, repo)
    try:
        async with await third.client() as client:
            assert (await client.call("review.open", {"agent": "agent1"}))["comments"] == []
            finished = await client.call("review.finish", {"agent": "agent1", "strategy": "merge"})
            assert finished["agent"] == "agent1"
    finally:
        await third.stop()
    assert _rows(tmp_path) == []  # a finished review's comments go with it
