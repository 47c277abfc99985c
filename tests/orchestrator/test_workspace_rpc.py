"""search.*, files.* and history.* over the orchestrator's JSON-RPC, against a real process."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer


async def serve(discovery: Path, project: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--discovery-file",
        str(discovery),
        "--project-root",
        str(project),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), timeout=15)
    return proc


async def test_search_files_and_history_over_json_rpc(
    isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    import json

    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "a.py").write_text("x = 1\nneedle_here = 2\n")
    (project / "notes.txt").write_text("nothing\n")
    git = await asyncio.create_subprocess_exec("git", "init", "-q", str(project))
    assert await git.wait() == 0
    discovery = isolated / "orch.json"
    proc = await serve(discovery, project)
    try:
        info = json.loads(discovery.read_text())
        client = await RpcClient.connect(info["url"], info["token"])
        batches: list[dict[str, Any]] = []
        client.on_notification("search.results", batches.append)
        summary = await client.call("search.project", {"pattern": "needle_\\w+"})
        assert summary["match_count"] == 1
        await asyncio.sleep(0.1)
        matches = [m for b in batches for m in b["matches"]]
        assert [(m["path"], m["line"]) for m in matches] == [("src/a.py", 2)]
        assert batches[-1]["done"] is True

        try:
            await client.call("search.project", {"pattern": "("})
        except InvalidArgumentError as exc:
            assert "regex" in exc.message
        else:
            raise AssertionError("an invalid regex must be an error")

        files = await client.call("files.list", {})
        assert sorted(files["files"]) == ["notes.txt", "src/a.py"]

        await client.call(
            "history.add", {"command": "make test", "exit_code": 0, "cwd": str(project)}
        )
        top = await client.call("history.top", {})
        assert [e["command"] for e in top] == ["make test"]
        version = await client.call("system.version", {})
        assert {"search.project", "files.list", "history.top"} <= set(version["methods"])
        features = (await client.call("system.features", {}))["features"]
        assert features["search"]["status"] == "implemented"
        await client.close()
    finally:
        proc.terminate()
        await proc.wait()
