"""``orchflow-orchestrator mcp`` (stdio), driven by the official MCP SDK's Client as a
subprocess, against a real orchestrator process, a private tmux server and real SQLite."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from orchflow_core.errors import ConflictError
from orchflow_core.remote.methods import mcp_command
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import ROOT, OrchestratorProcess, server_env

pytestmark = pytest.mark.timeout(120)


@asynccontextmanager
async def stdio_client(
    orch: OrchestratorProcess, project: Path, mode: str = "auto"
) -> AsyncIterator[Client]:
    # exactly the command :checkhealth and :Orchflow mcp give users (python -I ...), started
    # in the project as AI clients do
    argv = mcp_command(str(orch.discovery_file))
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env=server_env(orch.base, "unused"), cwd=str(project)
    )
    async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
        yield client


def payload(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def test_tools_do_their_real_work_over_stdio(
    orch: OrchestratorProcess, private_tmux: TmuxServer, project: Path
) -> None:
    async with stdio_client(orch, project) as client:
        assert client.protocol_version == "2026-07-28"
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"pane_list", "pane_create", "pane_run", "memory_store"} <= names

        pane = payload(await client.call_tool("pane_create", {"name": "mcp-sh"}))
        assert pane["pane_id"] in private_tmux.run("list-panes", "-a", "-F", "#{pane_id}")
        listed = payload(await client.call_tool("pane_list", {}))
        assert "mcp-sh" in [p["name"] for p in listed]

        ran = payload(
            await client.call_tool(
                "pane_run", {"pane": "mcp-sh", "command": "echo hi-from-mcp; (exit 3)"}
            )
        )
        assert ran["exit_code"] == 3
        assert ran["state"] == "finished"
        assert "hi-from-mcp" in ran["output_tail"]

        runs = payload(await client.call_tool("run_list", {"pane": "mcp-sh"}))
        assert runs[0]["exit_code"] == 3

        payload(
            await client.call_tool("pane_send", {"pane": "mcp-sh", "text": "echo sent-$((6*7))"})
        )
        for _ in range(100):
            out = payload(await client.call_tool("pane_output", {"pane": "mcp-sh", "lines": 20}))
            if "sent-42" in out["text"]:
                break
            await asyncio.sleep(0.05)
        assert "sent-42" in out["text"]

        stored = payload(
            await client.call_tool("memory_store", {"key": "mcp-k", "value": {"a": [1, 2]}})
        )
        assert stored["value"] == {"a": [1, 2]}
        found = payload(await client.call_tool("memory_search", {"query": "mcp-k"}))
        assert found[0]["key"] == "mcp-k"

        hits = payload(await client.call_tool("search_project", {"pattern": "assert 1 \\+ 1"}))
        assert [m["path"] for m in hits["matches"]] == ["test_demo.py"]
        files = payload(await client.call_tool("files_list", {}))
        assert "test_demo.py" in files["files"]
        top = payload(await client.call_tool("history_top", {}))
        assert isinstance(top, list)

        agent = payload(
            await client.call_tool(
                "agent_create",
                {"type": "custom", "name": "mcp-agent", "command": "echo agent-up; exec cat"},
            )
        )
        assert agent["pane_id"] in private_tmux.run("list-panes", "-a", "-F", "#{pane_id}")
        agents = payload(await client.call_tool("agent_list", {}))
        assert [a["name"] for a in agents] == ["mcp-agent"]
        for _ in range(100):
            said = payload(await client.call_tool("agent_output", {"id": "mcp-agent"}))
            if "agent-up" in said["text"]:
                break
            await asyncio.sleep(0.05)
        assert "agent-up" in said["text"]
        payload(
            await client.call_tool("agent_prompt", {"id": "mcp-agent", "text": "ping-$((1+1))"})
        )
        for _ in range(100):
            said = payload(await client.call_tool("agent_output", {"id": "mcp-agent"}))
            if said["text"].count("ping-$((1+1))") >= 2:  # the tty's echo, then cat's copy
                break
            await asyncio.sleep(0.05)
        assert said["text"].count("ping-$((1+1))") >= 2, said["text"]
        state = payload(await client.call_tool("agent_state", {"id": "mcp-agent"}))
        assert state["state"] == "idle" and state["name"] == "mcp-agent"

        resource = await client.read_resource("orchflow://memory/default/mcp-k")
        assert json.loads(resource.contents[0].text) == {"a": [1, 2]}
        out_uri = f"orchflow://pane/{pane['id']}/output"
        resource = await client.read_resource(out_uri)
        assert "hi-from-mcp" in resource.contents[0].text
        listed_uris = [str(r.uri) for r in (await client.list_resources()).resources]
        assert out_uri in listed_uris
        templates = (await client.list_resource_templates()).resource_templates
        assert {t.uri_template for t in templates} == {
            "orchflow://pane/{id}/output",
            "orchflow://memory/{namespace}/{key}",
        }

        slow = await client.call_tool(
            "pane_run", {"pane": "mcp-sh", "command": "sleep 3", "timeout_s": 0.3}
        )
        assert slow.is_error and "still running" in slow.content[0].text, slow.content[0].text
        bad_regex = await client.call_tool("search_project", {"pattern": "(unclosed"})
        assert bad_regex.is_error and "regex" in bad_regex.content[0].text.lower()


async def test_bad_calls_are_tool_errors_naming_the_argument(
    orch: OrchestratorProcess, project: Path
) -> None:
    async with stdio_client(orch, project, mode="legacy") as client:
        assert client.protocol_version != "2026-07-28"  # the initialize handshake
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("no_such_tool", {}, "unknown tool 'no_such_tool'"),
            ("pane_run", {"command": "true"}, "missing required argument 'pane'"),
            ("pane_output", {"pane": "x", "lines": "ten"}, "argument 'lines' must be an integer"),
            ("pane_list", {"sesion": "x"}, "unknown argument 'sesion'"),
            ("memory_store", {"key": "k", "value": "x" * (2 << 20)}, "arguments too large"),
            ("pane_output", {"pane": "nope"}, "nope"),
        ]
        for name, args, expected in cases:
            result = await client.call_tool(name, args)
            assert result.is_error, (name, args)
            assert expected in result.content[0].text, result.content[0].text


async def test_without_an_orchestrator_it_says_how_to_start_one(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        "mcp",
        "--discovery-file",
        str(tmp_path / "none.json"),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 1
    assert out == b""
    assert "orchflow-orchestrator serve" in err.decode()


async def test_a_call_while_the_orchestrator_restarts_is_a_clear_error_then_works(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    base = tmp_path / "home"
    first = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    second = None
    try:
        async with stdio_client(first, project) as client:
            payload(await client.call_tool("memory_store", {"key": "kept", "value": 1}))
            await first.stop()
            down = await client.call_tool("memory_search", {"query": "kept"})
            assert down.is_error
            assert "orchflow-orchestrator serve" in down.content[0].text
            second = await OrchestratorProcess.start(
                base, private_tmux.socket, project_root=project
            )
            found = payload(await client.call_tool("memory_search", {"query": "kept"}))
            assert [e["key"] for e in found] == ["kept"]  # the same SQLite, a new process
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


async def test_route_swarm_lock_and_review_tools_over_stdio(
    orch: OrchestratorProcess, private_tmux: TmuxServer, project: Path
) -> None:
    """The coordination tools do their real work: a route from the project's own files, a
    swarm whose commands ran in tmux with their exit codes, a lock other clients see (and
    are refused by), a review of an unknown agent refused naming it."""
    async with stdio_client(orch, project) as client, await orch.client() as rpc:
        routed = payload(
            await client.call_tool("route", {"input": "run the tests", "cwd": str(project)})
        )
        assert routed["agent_type"] == "test" and "pytest" in routed["suggested_command"]

        submitted = payload(
            await client.call_tool(
                "swarm_submit",
                {
                    "name": "from-mcp",
                    "tasks": [
                        {"id": "one", "command": "echo one-done"},
                        {"id": "two", "command": "false", "deps": ["one"]},
                        {"id": "three", "command": "exit 4", "deps": ["one"]},
                    ],
                },
            )
        )
        for _ in range(400):
            status = payload(
                await client.call_tool("swarm_status", {"swarm_id": submitted["swarm_id"]})
            )
            if status["state"] != "running":
                break
            await asyncio.sleep(0.05)
        tasks = {t["id"]: t for t in status["tasks"]}
        assert status["state"] == "failed", status
        assert tasks["one"]["exit_code"] == 0 and "one-done" in tasks["one"]["output_tail"]
        assert tasks["two"]["exit_code"] == 1
        # a command that exits the pool's shell ends its task, not hangs it
        assert tasks["three"]["state"] in ("failed", "lost")
        assert "shell" in tasks["three"]["reason"]

        lock = payload(
            await client.call_tool("lock_acquire", {"resource": "db", "mode": "exclusive"})
        )
        held = await rpc.call("lock.list")
        assert [h["lock_id"] for h in held["locks"]] == [lock["lock_id"]]
        again = await client.call_tool("lock_acquire", {"resource": "db", "mode": "exclusive"})
        assert again.is_error and "'db'" in again.content[0].text
        with pytest.raises(ConflictError, match="'db'"):
            await rpc.call("lock.acquire", {"resource": "db", "mode": "exclusive"})
        payload(await client.call_tool("lock_release", {"lock_id": lock["lock_id"]}))
        assert (await rpc.call("lock.list"))["locks"] == []
        taken = await rpc.call("lock.acquire", {"resource": "db", "mode": "exclusive"})
        assert taken["resource"] == "db"

        review = await client.call_tool("review_open", {"agent": "nobody"})
        assert review.is_error and "nobody" in review.content[0].text
