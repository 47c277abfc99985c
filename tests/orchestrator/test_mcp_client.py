"""orchflow as an MCP client: a real orchestrator process, configured in config.toml with real
MCP servers written with the official SDK (tests/orchestrator/mcp_servers/notes_server.py, as
stdio subprocesses and as a Streamable HTTP listener), driven over its JSON-RPC API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    TimeoutError_,
    UnavailableError,
)
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess, server_env

pytestmark = pytest.mark.timeout(120)

SERVERS = Path(__file__).with_name("mcp_servers")
NOTES = str(SERVERS / "notes_server.py")
MALFORMED = str(SERVERS / "malformed_server.py")
SECRET = "s3cret-token-4711"


def toml_list(items: list[str]) -> str:
    return json.dumps(items)


def stdio(name: str, *args: str, extra: str = "") -> str:
    argv = toml_list(["-I", *args])
    return f"[mcp.servers.{name}]\ncommand = {json.dumps(sys.executable)}\nargs = {argv}\n{extra}\n"


async def start(tmp_path: Path, tmux: TmuxServer, config: str, **env: str) -> OrchestratorProcess:
    base = tmp_path / "home"
    path = base / "config" / "orchflow" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    return await OrchestratorProcess.start(
        base, tmux.socket, env=server_env(base, tmux.socket, **env)
    )


@pytest.fixture
async def notes_orch(
    tmp_path: Path, private_tmux: TmuxServer
) -> AsyncIterator[OrchestratorProcess]:
    config = (
        stdio(
            "notes",
            NOTES,
            extra=f'env = {{ NOTES_TOKEN = "${{NOTES_TOKEN}}", NOTES_PID_FILE = '
            f"{json.dumps(str(tmp_path / 'pids'))} }}",
        )
        + stdio("slow", NOTES, extra="timeout_s = 1")
        + stdio(
            "crashy", NOTES, "--crash-at-start", extra='env = { NOTES_TOKEN = "${NOTES_TOKEN}" }'
        )
        + stdio("malformed", MALFORMED)
        + '[mcp.servers.missing]\ncommand = "orchflow-no-such-mcp-server"\n\n'
        + '[mcp.servers.typo]\ncommand = "x"\ntimeout_s = "soon"\n\n'
        + stdio("off", NOTES, extra="enabled = false")
        + '[[rules]]\npattern = "rm -rf"\nkind = "regex"\naction = "block"\n'
        + 'message = "no recursive deletes"\n'
    )
    server = await start(tmp_path, private_tmux, config, NOTES_TOKEN=SECRET)
    try:
        yield server
    finally:
        await server.stop()


def rows(servers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in servers}


def text(result: dict[str, Any]) -> str:
    return "\n".join(c.get("text", "") for c in result["content"])


async def test_servers_are_listed_with_state_and_nothing_starts_until_used(
    notes_orch: OrchestratorProcess, tmp_path: Path
) -> None:
    servers = await notes_orch.call("mcp.list_servers", {})
    assert servers[0]["name"] == "orchflow"
    by = rows(servers)
    assert by["orchflow"]["kind"] == "ours" and by["notes"]["kind"] == "user"
    assert by["notes"]["state"] == "stopped" and by["notes"]["tools"] is None
    assert by["notes"]["breaker"]["state"] == "closed"
    assert by["notes"]["config"]["env"] == ["NOTES_PID_FILE", "NOTES_TOKEN"]
    assert by["off"]["state"] == "disabled"
    assert by["typo"]["state"] == "invalid"
    assert by["typo"]["last_error"] == (
        'mcp.servers.typo.timeout_s: got "soon", expected a number of seconds'
    )
    assert not (tmp_path / "pids").exists()  # nothing was started
    assert SECRET not in json.dumps(servers)
    features = (await notes_orch.call("system.features", {}))["features"]
    client = features["mcp.client"]
    assert client["status"] == "implemented"
    assert "notes" in client["servers"] and "off" not in client["servers"]
    assert client["problems"] == [by["typo"]["last_error"]]


async def test_a_stdio_server_is_started_on_demand_and_its_tools_called(
    notes_orch: OrchestratorProcess, tmp_path: Path
) -> None:
    listed = await notes_orch.call("mcp.list_tools", {"server": "notes"})
    names = [t["name"] for t in listed["tools"]]
    assert names == ["echo", "add", "fail", "hang", "run", "learn", "exit"]
    assert listed["tools"][0]["inputSchema"]["required"] == ["text"]
    echoed = await notes_orch.call(
        "mcp.call", {"server": "notes", "tool": "echo", "arguments": {"text": "hello"}}
    )
    assert text(echoed) == "notes echo: hello" and echoed["isError"] is False
    added = await notes_orch.call(
        "mcp.call", {"server": "notes", "tool": "add", "arguments": {"a": 2, "b": 40}}
    )
    assert added["structuredContent"] == {"sum": 42}
    failed = await notes_orch.call(
        "mcp.call", {"server": "notes", "tool": "fail", "arguments": {"why": "disk full"}}
    )
    assert failed["isError"] is True and "failed on purpose: disk full" in text(failed)
    by = rows(await notes_orch.call("mcp.list_servers", {}))
    assert by["notes"]["state"] == "ready" and by["notes"]["tool_count"] == 7
    assert by["notes"]["server_info"]["name"] == "notes"
    assert by["notes"]["breaker"]["state"] == "closed"
    assert len((tmp_path / "pids").read_text().split()) == 1  # one process, reused


async def test_tools_are_cached_until_the_server_says_they_changed(
    notes_orch: OrchestratorProcess,
) -> None:
    async def names() -> list[str]:
        listed = await notes_orch.call("mcp.list_tools", {"server": "notes"})
        return [t["name"] for t in listed["tools"]]

    assert "shout" not in await names()
    learned = await notes_orch.call(
        "mcp.call", {"server": "notes", "tool": "learn", "arguments": {"name": "shout"}}
    )
    assert text(learned) == "learned shout"
    async with asyncio.timeout(10):  # the change arrives on the server's event stream
        while "shout" not in await names():  # noqa: ASYNC110 - another process's event
            await asyncio.sleep(0.05)
    out = await notes_orch.call(
        "mcp.call", {"server": "notes", "tool": "shout", "arguments": {"text": "hi"}}
    )
    assert text(out) == "shout: hi"


async def test_bad_requests_name_what_is_wrong(notes_orch: OrchestratorProcess) -> None:
    with pytest.raises(NotFoundError, match=r"no MCP server 'nope' \(configured: .*notes"):
        await notes_orch.call("mcp.list_tools", {"server": "nope"})
    with pytest.raises(InvalidArgumentError, match=r"has no tool 'ecko' \(its tools: echo, "):
        await notes_orch.call("mcp.call", {"server": "notes", "tool": "ecko"})
    with pytest.raises(InvalidArgumentError, match="arguments must be an object"):
        await notes_orch.call("mcp.call", {"server": "notes", "tool": "echo", "arguments": [1]})
    with pytest.raises(InvalidArgumentError, match="disabled"):
        await notes_orch.call("mcp.call", {"server": "off", "tool": "echo"})
    with pytest.raises(InvalidArgumentError, match=r"'typo' is misconfigured: .*timeout_s"):
        await notes_orch.call("mcp.list_tools", {"server": "typo"})
    with pytest.raises(InvalidArgumentError, match="missing parameter 'server'"):
        await notes_orch.call("mcp.call", {"tool": "echo"})


async def test_faults_are_reported_per_server_and_the_others_keep_working(
    notes_orch: OrchestratorProcess,
) -> None:
    call = notes_orch.call
    with pytest.raises(UnavailableError, match="orchflow-no-such-mcp-server is not installed"):
        await call("mcp.list_tools", {"server": "missing"})
    with pytest.raises(UnavailableError, match="cannot open the notes database"):
        await call("mcp.list_tools", {"server": "crashy"})
    with pytest.raises(BackendError, match=r"malformed result for tools/call broken: content"):
        await call("mcp.call", {"server": "malformed", "tool": "broken"})
    # a server that hangs: each call times out; the third opens its breaker
    for _ in range(3):
        with pytest.raises(
            TimeoutError_, match=r"'slow' did not answer tools/call hang within 1 s"
        ):
            await call("mcp.call", {"server": "slow", "tool": "hang", "arguments": {"seconds": 30}})
        # meanwhile another server answers
        ok = await call("mcp.call", {"server": "notes", "tool": "echo", "arguments": {"text": "x"}})
        assert text(ok) == "notes echo: x"
    with pytest.raises(UnavailableError, match=r"circuit breaker 'mcp.slow' is open"):
        await call("mcp.call", {"server": "slow", "tool": "echo", "arguments": {"text": "x"}})
    by = rows(await call("mcp.list_servers", {}))
    assert by["missing"]["state"] == "failed" and "not installed" in by["missing"]["last_error"]
    assert by["crashy"]["state"] == "failed"
    assert "database with token *** (crashing" in by["crashy"]["last_error"]  # its env value
    assert SECRET not in json.dumps(by)
    assert "malformed result" in by["malformed"]["last_error"]
    assert by["slow"]["breaker"]["state"] == "open" and by["slow"]["breaker"]["opens"] == 1
    assert "within 1 s" in by["slow"]["breaker"]["last_failure"]
    assert by["notes"]["breaker"]["state"] == "closed" and by["notes"]["state"] == "ready"
    health = await call("system.health", {})
    assert any(p.startswith("breaker mcp.slow: open") for p in health["problems"])
    # a restart on request closes the breaker: the server is used again at once
    assert (await call("mcp.restart", {"server": "slow"}))["state"] == "ready"
    again = await call("mcp.call", {"server": "slow", "tool": "echo", "arguments": {"text": "y"}})
    assert text(again) == "notes echo: y"


async def test_a_server_that_dies_mid_call_is_started_again_on_the_next(
    notes_orch: OrchestratorProcess, tmp_path: Path
) -> None:
    with pytest.raises(UnavailableError, match="'notes' went away during tools/call exit"):
        await notes_orch.call("mcp.call", {"server": "notes", "tool": "exit"})
    assert rows(await notes_orch.call("mcp.list_servers", {}))["notes"]["state"] == "failed"
    again = await notes_orch.call(
        "mcp.call", {"server": "notes", "tool": "echo", "arguments": {"text": "back"}}
    )
    assert text(again) == "notes echo: back"
    assert len((tmp_path / "pids").read_text().split()) == 2


async def test_restart_starts_a_new_process(
    notes_orch: OrchestratorProcess, tmp_path: Path
) -> None:
    await notes_orch.call("mcp.list_tools", {"server": "notes"})
    first = int((tmp_path / "pids").read_text().split()[0])
    out = await notes_orch.call("mcp.restart", {"server": "notes"})
    assert out == {"server": "notes", "state": "ready", "tool_count": 7}
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2 and not _alive(first)


async def test_a_command_in_the_arguments_passes_the_rules(
    notes_orch: OrchestratorProcess,
) -> None:
    ok = await notes_orch.call(
        "mcp.call", {"server": "notes", "tool": "run", "arguments": {"command": "ls -la"}}
    )
    assert text(ok) == "would run: ls -la"
    with pytest.raises(PermissionDeniedError, match="no recursive deletes"):
        await notes_orch.call(
            "mcp.call", {"server": "notes", "tool": "run", "arguments": {"command": "rm -rf build"}}
        )


async def test_orchflows_own_server_is_callable_too(notes_orch: OrchestratorProcess) -> None:
    stored = await notes_orch.call(
        "mcp.call",
        {
            "server": "orchflow",
            "tool": "memory_store",
            "arguments": {"key": "via-mcp", "value": {"n": 1}},
        },
    )
    assert stored["isError"] is False
    entry = await notes_orch.call("memory.get", {"key": "via-mcp"})
    assert entry["value"] == {"n": 1}
    tools = await notes_orch.call("mcp.list_tools", {"server": "orchflow"})
    assert "pane_run" in [t["name"] for t in tools["tools"]]


async def test_no_server_process_outlives_the_orchestrator(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    pids = tmp_path / "pids"
    env = f"env = {{ NOTES_PID_FILE = {json.dumps(str(pids))} }}"
    orch = await start(
        tmp_path, private_tmux, stdio("a", NOTES, extra=env) + stdio("b", NOTES, extra=env)
    )
    try:
        for name in ("a", "b"):
            await orch.call("mcp.list_tools", {"server": name})
        started = [int(p) for p in pids.read_text().split()]
        assert len(started) == 2 and all(_alive(p) for p in started)
    finally:
        assert await orch.stop() == 0
    assert not any(_alive(p) for p in started)


async def test_a_server_that_never_answers_at_start_is_stopped_and_reported(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    pids = tmp_path / "pids"
    env = f"env = {{ NOTES_PID_FILE = {json.dumps(str(pids))} }}\nstart_timeout_s = 3\n"
    orch = await start(
        tmp_path,
        private_tmux,
        stdio("mute", NOTES, "--hang-at-start", extra=env) + stdio("fine", NOTES),
    )
    try:
        with pytest.raises(
            TimeoutError_,
            match=r"'mute' did not start: no answer to discover/initialize within 3 s",
        ):
            await orch.call("mcp.list_tools", {"server": "mute"})
        (pid,) = [int(p) for p in pids.read_text().split()]
        assert not _alive(pid)  # given up on and ended, not left running
        ok = await orch.call(
            "mcp.call", {"server": "fine", "tool": "echo", "arguments": {"text": "x"}}
        )
        assert text(ok) == "notes echo: x"
        by = rows(await orch.call("mcp.list_servers", {}))
        assert by["mute"]["state"] == "failed" and by["mute"]["breaker"]["failures"] == 1
        # the orchestrator stops while it starts it again: it does not wait for the start
        starting = asyncio.create_task(orch.call("mcp.list_tools", {"server": "mute"}))
        async with asyncio.timeout(10):
            while len(pids.read_text().split()) < 2:  # noqa: ASYNC110 - another process's file
                await asyncio.sleep(0.02)
        assert await orch.stop() == 0
        with contextlib.suppress(Exception):
            await starting
        assert not any(_alive(int(p)) for p in pids.read_text().split())
    finally:
        await orch.stop()


async def test_an_http_server_gets_its_header_from_the_environment_and_no_log_shows_it(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    env = {**os.environ, "NOTES_TOKEN": SECRET}
    http = await asyncio.create_subprocess_exec(
        sys.executable, "-I", NOTES, "--http", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert http.stdout is not None
        async with asyncio.timeout(30):
            port = int(await http.stdout.readline())
        url = json.dumps(f"http://127.0.0.1:{port}/mcp")
        config = (
            f"[mcp.servers.web]\nurl = {url}\n"
            'headers = { Authorization = "Bearer ${NOTES_TOKEN}" }\n\n'
            f'[mcp.servers.wrongkey]\nurl = {url}\nheaders = {{ Authorization = "Bearer nope" }}\n'
        )
        orch = await start(tmp_path, private_tmux, config, NOTES_TOKEN=SECRET)
        try:
            out = await orch.call(
                "mcp.call", {"server": "web", "tool": "add", "arguments": {"a": 1, "b": 2}}
            )
            assert out["structuredContent"] == {"sum": 3}
            with pytest.raises(UnavailableError, match="'wrongkey' cannot start"):
                await orch.call("mcp.list_tools", {"server": "wrongkey"})
            by = rows(await orch.call("mcp.list_servers", {}))
            assert by["web"]["state"] == "ready" and by["web"]["transport"] == "http"
            assert by["web"]["config"]["headers"] == ["Authorization"]
            assert by["wrongkey"]["state"] == "failed"
            assert SECRET not in json.dumps(by)
        finally:
            await orch.stop()
        assert SECRET not in orch.log_file.read_text()
    finally:
        http.terminate()
        await http.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive: it is the orchestrator's child only until reaped
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
