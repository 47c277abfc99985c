"""search.*, files.* and history.* over the orchestrator's JSON-RPC, against a real process."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
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
        # An unknown parameter is refused before anything runs: nothing is deleted.
        try:
            await client.call("files.delete", {"path": "notes.txt", "dry_run": True})
        except InvalidArgumentError as exc:
            assert exc.code == -32602 and exc.data["param"] == "dry_run"
            assert "unknown parameter 'dry_run' (expected: path)" in exc.message
        else:
            raise AssertionError("an unknown parameter must be refused")
        assert (project / "notes.txt").exists()

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


def _handler_params(module: str) -> dict[str, set[str]]:
    """method name -> the names its handler reads with ``param(params, "<name>", ...)``."""
    tree = ast.parse(Path(importlib.import_module(module).__file__ or "").read_text())
    found: dict[str, set[str]] = {}
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.AsyncFunctionDef):
            continue
        names = [
            d.args[0].value
            for d in fn.decorator_list
            if isinstance(d, ast.Call) and d.args and isinstance(d.args[0], ast.Constant)
        ]
        for name in names:
            found[str(name)] = {
                str(call.args[1].value)
                for call in ast.walk(fn)
                if isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == "param"
                and len(call.args) > 1
                and isinstance(call.args[1], ast.Constant)
            }
    return found


def test_every_workspace_method_declares_the_parameters_its_handler_reads() -> None:
    from orchestrator.methods import _SEARCH_OPTIONS, CORE_PARAMS, _served_core
    from orchflow_core.api import METHODS
    from orchflow_core.registry import load_methods
    from orchflow_core.search.options import SearchOptions

    load_methods()
    served = {n for n in METHODS.names() if _served_core(n)}
    assert set(CORE_PARAMS) == served
    assert set(_SEARCH_OPTIONS) == {f.name for f in dataclasses.fields(SearchOptions)}
    for module in ("search", "files", "history", "terminal", "templates", "modules", "testing"):
        for name, read in _handler_params(f"orchflow_core.{module}.methods").items():
            if module == "terminal" and name not in CORE_PARAMS:
                continue  # session.*, pane.watch...: the editor's, not served here
            assert read <= CORE_PARAMS[name], (name, read - CORE_PARAMS[name])
