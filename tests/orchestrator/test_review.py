"""review.* against a real orchestrator process, a real tmux server and real git
repositories: an agent's worktree changed (committed, uncommitted, new, deleted, renamed,
binary, mode, CRLF), reviewed hunk by hunk: accepted hunks land byte for byte in the
user's tree, refused ones say why and leave the user's uncommitted edits alone, rejected
ones are gone from the agent's worktree; comments reach the agent's pane as one prompt;
finish merges, squashes or rebases (a conflict: reported, nothing committed); overlaps
between two agents show in agent.list and review.open."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from tests.git.test_methods import commit_all, git, make_repo
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess

BASE_TEXT = "".join(f"line {i}\n" for i in range(1, 41))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "proj")
    (root / "app.py").write_text(BASE_TEXT)
    (root / "crlf.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    (root / "old_name.txt").write_text("rename me\n" * 5)
    (root / "gone.txt").write_text("delete me\n")
    (root / "logo.bin").write_bytes(b"\x00\x01\x02binary")
    (root / "run.sh").write_text("echo hi\n")
    (root / "noeol.txt").write_bytes(b"a\nb")
    commit_all(root)
    return root


@pytest.fixture
async def orch(
    tmp_path: Path, private_tmux: TmuxServer, repo: Path
) -> AsyncIterator[OrchestratorProcess]:
    config = {"worktree": {"dir": str(tmp_path / "worktrees"), "port_min": 47300,
                           "port_max": 47399}}  # fmt: skip
    server = await OrchestratorProcess.start(
        tmp_path / "home", private_tmux.socket, "--core-config", json.dumps(config),
        project_root=repo,
    )  # fmt: skip
    try:
        yield server
    finally:
        await server.stop()


async def new_agent(client: Any, name: str, command: str = "sleep 300") -> Path:
    agent = await client.call(
        "agent.create", {"type": "custom", "name": name, "command": command, "worktree": True}
    )
    return Path(agent["worktree"]["path"])


def agent_edits(wt: Path) -> None:
    """Committed and uncommitted changes of every kind."""
    lines = BASE_TEXT.splitlines(keepends=True)
    lines[2] = "line 3 by agent\n"  # hunk near the top
    lines[30] = "line 31 by agent\n"  # hunk near the bottom
    (wt / "app.py").write_text("".join(lines))
    git(wt, "add", "app.py")
    git(wt, "commit", "-qm", "agent: app")  # committed
    (wt / "crlf.txt").write_bytes(b"one\r\nTWO\r\nthree\r\n")  # uncommitted, CRLF
    git(wt, "mv", "old_name.txt", "new_name.txt")
    (wt / "gone.txt").unlink()
    (wt / "logo.bin").write_bytes(b"\x00\x01\x02binary v2\xff")
    os.chmod(wt / "run.sh", 0o755)
    (wt / "noeol.txt").write_bytes(b"a\nB")
    (wt / "fresh.txt").write_text("brand new\n")  # untracked


async def output_with(client: Any, agent: str, want: str) -> str:
    """The agent's pane once ``want`` is on it (a bounded poll: the pane is another
    process)."""
    text = ""
    for _ in range(200):
        text = (await client.call("agent.output", {"id": agent}))["text"]
        if want in text:
            return str(text)
        await asyncio.sleep(0.05)
    raise AssertionError(text)


def files_by_path(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in view["files"]}


async def test_open_accept_reject_byte_exact(orch: OrchestratorProcess, repo: Path) -> None:
    client = await orch.client()
    try:
        wt = await new_agent(client, "agent1")
        agent_edits(wt)
        view = await client.call("review.open", {"agent": "agent1"})
        files = files_by_path(view)
        assert view["branch"] == "orchflow/agent1" and view["root"] == str(repo)
        assert files["app.py"]["status"] == "modified" and len(files["app.py"]["hunks"]) == 2
        assert files["crlf.txt"]["hunks"][0]["text"].count("\r\n") >= 2
        assert files["new_name.txt"]["status"] == "renamed"
        assert files["new_name.txt"]["old_path"] == "old_name.txt"
        assert files["gone.txt"]["status"] == "deleted"
        assert files["logo.bin"]["binary"] is True and files["logo.bin"]["hunks"] == []
        assert files["run.sh"]["mode"] == {"old": "100644", "new": "100755"}
        assert files["fresh.txt"]["status"] == "added"
        assert view["overlaps"] == []
        # ids are stable across calls
        again = await client.call("review.open", {"agent": "agent1"})
        assert [h["id"] for f in again["files"] for h in f["hunks"]] == [
            h["id"] for f in view["files"] for h in f["hunks"]
        ]
        top, bottom = files["app.py"]["hunks"]
        assert top["old_start"] < bottom["old_start"]

        # the user has an uncommitted edit on the bottom hunk's lines (and an unrelated one)
        mine = BASE_TEXT.splitlines(keepends=True)
        mine[31] = "line 32 edited by me\n"
        (repo / "app.py").write_text("".join(mine))
        result = await client.call(
            "review.accept", {"agent": "agent1", "hunks": [top["id"], bottom["id"]]}
        )
        assert result["accepted"] == [{"path": "app.py", "id": top["id"]}]
        [refused] = result["refused"]
        assert refused["id"] == bottom["id"]
        assert "uncommitted edits on line 32 of app.py" in refused["reason"]
        want = list(mine)
        want[2] = "line 3 by agent\n"
        assert (repo / "app.py").read_text() == "".join(want)  # mine kept, top landed
        assert git(repo, "diff", "--cached", "--name-only") == b""  # the index untouched

        # CRLF and a missing final newline: byte for byte
        crlf = files["crlf.txt"]["hunks"][0]["id"]
        noeol = files["noeol.txt"]["hunks"][0]["id"]
        result = await client.call("review.accept", {"agent": "agent1", "hunks": [crlf, noeol]})
        assert len(result["accepted"]) == 2 and result["refused"] == []
        assert (repo / "crlf.txt").read_bytes() == b"one\r\nTWO\r\nthree\r\n"
        assert (repo / "noeol.txt").read_bytes() == b"a\nB"

        # whole files: binary, rename, deletion, mode, new
        result = await client.call(
            "review.accept",
            {"agent": "agent1",
             "paths": ["logo.bin", "new_name.txt", "gone.txt", "run.sh", "fresh.txt"]},
        )  # fmt: skip
        assert result["refused"] == [], result
        assert (repo / "logo.bin").read_bytes() == b"\x00\x01\x02binary v2\xff"
        assert (repo / "new_name.txt").read_text() == "rename me\n" * 5
        assert not (repo / "old_name.txt").exists() and not (repo / "gone.txt").exists()
        assert os.stat(repo / "run.sh").st_mode & 0o111
        assert (repo / "fresh.txt").read_text() == "brand new\n"

        # a hunk over lines the user changed (and committed) no longer applies
        (repo / "crlf.txt").write_bytes(b"uno\r\ndos\r\ntres\r\n")
        commit_all(repo, "mine")
        result = await client.call("review.accept", {"agent": "agent1", "hunks": [crlf]})
        assert result["accepted"] == []
        assert "no longer applies" in result["refused"][0]["reason"]
        assert (repo / "crlf.txt").read_bytes() == b"uno\r\ndos\r\ntres\r\n"

        # reject: the bottom hunk and the new file are gone from the agent's worktree
        result = await client.call("review.reject", {"agent": "agent1", "hunks": [bottom["id"]]})
        assert result["rejected"] == [{"path": "app.py", "id": bottom["id"]}]
        want_agent = BASE_TEXT.splitlines(keepends=True)
        want_agent[2] = "line 3 by agent\n"
        assert (wt / "app.py").read_text() == "".join(want_agent)
        await client.call("review.reject", {"agent": "agent1", "paths": ["fresh.txt", "logo.bin"]})
        assert not (wt / "fresh.txt").exists()
        assert (wt / "logo.bin").read_bytes() == b"\x00\x01\x02binary"
        view = await client.call("review.open", {"agent": "agent1"})
        files = files_by_path(view)
        assert [h["id"] for h in files["app.py"]["hunks"]] == [top["id"]]  # still the same id
        assert "fresh.txt" not in files and "logo.bin" not in files

        # a stale id and a path the agent did not change are refused, nothing written
        result = await client.call("review.accept", {"agent": "agent1", "hunks": [bottom["id"]]})
        assert "not in the agent's diff now" in result["refused"][0]["reason"]
        result = await client.call("review.accept", {"agent": "agent1", "paths": ["nope.txt"]})
        assert "did not change 'nope.txt'" in result["refused"][0]["reason"]
    finally:
        await client.close()


async def test_bad_input(orch: OrchestratorProcess, repo: Path) -> None:
    client = await orch.client()
    try:
        row = (await client.call("system.features", {}))["features"]["review"]
        assert row["status"] == "implemented"
        assert row["strategies"] == ["merge", "squash", "rebase"]
        with pytest.raises(NotFoundError, match="no agent 'ghost'"):
            await client.call("review.open", {"agent": "ghost"})
        await client.call("agent.create", {"type": "custom", "name": "plain",
                                           "command": "sleep 300"})  # fmt: skip
        with pytest.raises(InvalidArgumentError, match="not in a worktree of its own"):
            await client.call("review.open", {"agent": "plain"})
        await new_agent(client, "agent1")
        with pytest.raises(InvalidArgumentError, match="either hunks"):
            await client.call("review.accept", {"agent": "agent1"})
        with pytest.raises(InvalidArgumentError, match="strategy must be one of"):
            await client.call("review.finish", {"agent": "agent1", "strategy": "octopus"})
        with pytest.raises(InvalidArgumentError, match="'line' must be between 1"):
            await client.call(
                "review.comment", {"agent": "agent1", "path": "app.py", "line": 0, "text": "x"}
            )
        with pytest.raises(InvalidArgumentError, match=r"without '\.\.'"):
            await client.call(
                "review.comment", {"agent": "agent1", "path": "../x", "line": 1, "text": "x"}
            )
        with pytest.raises(ConflictError, match="no review comments"):
            await client.call("review.send", {"agent": "agent1"})
        with pytest.raises(ConflictError, match="nothing that is not in your branch"):
            await client.call("review.finish", {"agent": "agent1", "strategy": "merge"})
    finally:
        await client.close()


async def test_comments_sent_as_one_prompt(
    orch: OrchestratorProcess, repo: Path, private_tmux: TmuxServer
) -> None:
    client = await orch.client()
    try:
        wt = await new_agent(client, "agent1", command="cat")
        (wt / "app.py").write_text(BASE_TEXT.replace("line 5\n", "line five\n"))
        for line, text in ((5, "why spell it out?"), (2, "keep this")):
            await client.call(
                "review.comment", {"agent": "agent1", "path": "app.py", "line": line, "text": text}
            )
        view = await client.call("review.open", {"agent": "agent1"})
        assert [c["line"] for c in view["comments"]] == [5, 2]
        result = await client.call("review.send", {"agent": "agent1"})
        assert result["sent"] == 2
        assert "- app.py:2: keep this\n- app.py:5: why spell it out?" in result["prompt"]
        screen = await output_with(client, "agent1", "app.py:5: why spell it out?")
        assert "app.py:2: keep this" in screen
        assert (await client.call("review.open", {"agent": "agent1"}))["comments"] == []
    finally:
        await client.close()


async def test_overlaps_between_agents(orch: OrchestratorProcess, repo: Path) -> None:
    client = await orch.client()
    try:
        one = await new_agent(client, "agent1")
        two = await new_agent(client, "agent2")
        (one / "app.py").write_text("mine\n")
        (two / "app.py").write_text("theirs\n")
        (two / "other.txt").write_text("only agent2\n")
        rows = {a["name"]: a for a in await client.call("agent.list", {})}
        assert rows["agent1"]["overlaps"] == [{"path": "app.py", "agents": ["agent2"]}]
        assert rows["agent2"]["overlaps"] == [{"path": "app.py", "agents": ["agent1"]}]
        view = await client.call("review.open", {"agent": "agent2"})
        assert view["overlaps"] == [{"path": "app.py", "agents": ["agent1"]}]
    finally:
        await client.close()


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
async def test_finish_lands_the_branch_and_tears_down(
    orch: OrchestratorProcess, repo: Path, strategy: str
) -> None:
    client = await orch.client()
    try:
        wt = await new_agent(client, "agent1")
        (wt / "feature.py").write_text("feature = True\n")
        git(wt, "add", "feature.py")
        git(wt, "commit", "-qm", "agent: feature")
        (wt / "app.py").write_text(BASE_TEXT + "more\n")  # left uncommitted by the agent
        (repo / "notes.txt").write_text("my own untracked notes\n")  # mine, untouched
        result = await client.call(
            "review.finish", {"agent": "agent1", "strategy": strategy, "message": "Land it"}
        )
        assert sorted(result["files"]) == ["app.py", "feature.py"]
        assert (repo / "feature.py").read_text() == "feature = True\n"
        assert (repo / "app.py").read_text() == BASE_TEXT + "more\n"
        assert (repo / "notes.txt").read_text() == "my own untracked notes\n"
        assert git(repo, "status", "--porcelain", "--untracked-files=no") == b""
        subject = git(repo, "log", "-1", "--format=%s").decode().strip()
        if strategy != "rebase":
            assert subject == "Land it"
        parents = git(repo, "log", "-1", "--format=%P").decode().split()
        assert len(parents) == (2 if strategy == "merge" else 1)
        assert result["worktree"]["removed"] is True
        assert result["worktree"]["branch_deleted"] is True
        assert not wt.exists()
        assert b"orchflow/agent1" not in git(repo, "branch")
    finally:
        await client.close()


async def test_finish_conflict_commits_nothing(orch: OrchestratorProcess, repo: Path) -> None:
    client = await orch.client()
    try:
        wt = await new_agent(client, "agent1")
        (wt / "app.py").write_text("agent's version\n")
        (repo / "app.py").write_text("my version\n")
        commit_all(repo, "mine")
        head = git(repo, "rev-parse", "HEAD")
        agent_head = git(wt, "rev-parse", "HEAD")
        with pytest.raises(ConflictError) as err:
            await client.call("review.finish", {"agent": "agent1", "strategy": "merge"})
        assert "conflicts in app.py" in err.value.message
        assert err.value.data["files"] == ["app.py"]
        assert git(repo, "rev-parse", "HEAD") == head
        assert git(wt, "rev-parse", "HEAD") == agent_head
        assert (wt / "app.py").read_text() == "agent's version\n"  # the worktree kept
        assert (repo / "app.py").read_text() == "my version\n"
    finally:
        await client.close()


async def test_submodule_and_detached_head(
    orch: OrchestratorProcess, repo: Path, tmp_path: Path
) -> None:
    sub = make_repo(tmp_path / "sub")
    (sub / "s.txt").write_text("s\n")
    commit_all(sub)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "libs/sub")
    commit_all(repo, "submodule")
    client = await orch.client()
    try:
        wt = await new_agent(client, "agent1")
        git(wt, "checkout", "-q", "--detach")
        (wt / "app.py").write_text(BASE_TEXT + "tail\n")
        view = await client.call("review.open", {"agent": "agent1"})
        assert [f["path"] for f in view["files"]] == ["app.py"]
        result = await client.call("review.accept", {"agent": "agent1", "paths": ["app.py"]})
        assert result["refused"] == []
        assert (repo / "app.py").read_text() == BASE_TEXT + "tail\n"
    finally:
        await client.close()


async def test_finish_refuses_over_my_uncommitted_edits(
    orch: OrchestratorProcess, repo: Path
) -> None:
    client = await orch.client()
    try:
        wt = await new_agent(client, "agent1")
        (wt / "app.py").write_text(BASE_TEXT + "agent's line\n")
        (repo / "app.py").write_text("line 0 mine\n" + BASE_TEXT)  # not committed
        head = git(repo, "rev-parse", "HEAD")
        with pytest.raises(ConflictError) as err:
            await client.call("review.finish", {"agent": "agent1", "strategy": "merge"})
        assert "uncommitted edits to app.py" in err.value.message
        assert err.value.data["files"] == ["app.py"]
        assert git(repo, "rev-parse", "HEAD") == head
        assert (repo / "app.py").read_text() == "line 0 mine\n" + BASE_TEXT
        assert git(wt, "status", "--porcelain") == b" M app.py\n"  # nothing moved there
    finally:
        await client.close()


async def test_finish_from_and_onto_detached_heads(orch: OrchestratorProcess, repo: Path) -> None:
    client = await orch.client()
    try:
        wt = await new_agent(client, "agent1")
        git(wt, "checkout", "-q", "--detach")
        (wt / "app.py").write_text("detached work\n")
        git(wt, "commit", "-qam", "agent: detached")
        (wt / "extra.txt").write_text("uncommitted\n")
        git(repo, "checkout", "-q", "--detach")
        result = await client.call(
            "review.finish", {"agent": "agent1", "strategy": "squash", "remove_worktree": False}
        )
        assert result["branch"] is None and sorted(result["files"]) == ["app.py", "extra.txt"]
        assert (repo / "app.py").read_text() == "detached work\n"
        assert git(repo, "log", "-1", "--format=%s").decode().startswith("agent1: reviewed work")
        assert wt.exists() and "worktree" not in result  # kept, as asked
    finally:
        await client.close()
