"""Streamable HTTP at /mcp on a real orchestrator process's own listener: the official SDK's
Client in both protocol eras, and raw HTTP for what a client library never sends."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess

pytestmark = pytest.mark.timeout(120)

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def mcp_url(orch: OrchestratorProcess) -> str:
    return f"http://127.0.0.1:{orch.port}/mcp"


@asynccontextmanager
async def http_client(orch: OrchestratorProcess, mode: str = "auto") -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {orch.token}"}, timeout=60)
    transport = streamable_http_client(mcp_url(orch), http_client=http)
    async with http, Client(transport, mode=mode) as client:  # type: ignore[arg-type]
        yield client


def payload(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_runs_tools_over_http_in_both_eras(
    orch: OrchestratorProcess, private_tmux: TmuxServer, mode: str
) -> None:
    async with http_client(orch, mode) as client:
        if mode == "auto":
            assert client.protocol_version == "2026-07-28"
        else:
            assert client.protocol_version != "2026-07-28"
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["pane_run"].input_schema["required"] == ["pane", "command"]
        name = f"http-{mode}"
        pane = payload(await client.call_tool("pane_create", {"name": name}))
        assert pane["pane_id"] in private_tmux.run("list-panes", "-a", "-F", "#{pane_id}")
        ran = payload(await client.call_tool("pane_run", {"pane": name, "command": "false"}))
        assert ran["exit_code"] == 1
        bad = await client.call_tool("pane_run", {"pane": name, "command": 7})
        assert bad.is_error and "argument 'command' must be a string" in bad.content[0].text
        unknown = await client.call_tool("pane_destroy", {})
        assert unknown.is_error and "unknown tool 'pane_destroy'" in unknown.content[0].text
        big = await client.call_tool("memory_store", {"key": "big", "value": "x" * (2 << 20)})
        assert big.is_error and "arguments too large" in big.content[0].text
        hits = payload(await client.call_tool("search_project", {"pattern": "def test_ok"}))
        assert hits["match_count"] == 1 and hits["matches"][0]["path"] == "test_demo.py"


async def test_features_list_the_mcp_server_and_client(orch: OrchestratorProcess) -> None:
    features = (await orch.call("system.features"))["features"]
    assert features["mcp.server"]["status"] == "implemented"
    assert features["mcp.server"]["path"] == "/mcp"
    client = features["mcp.client"]
    assert client["status"] == "implemented" and client["servers"] == []
    assert client["methods"] == ["mcp.list_servers", "mcp.list_tools", "mcp.call", "mcp.restart"]


async def test_http_refusals(orch: OrchestratorProcess) -> None:
    url = mcp_url(orch)
    token = {"Authorization": f"Bearer {orch.token}"}
    async with httpx2.AsyncClient() as http:
        r = await http.post(url, json=INIT, headers=JSON_HEADERS)
        assert r.status_code == 401 and "token" in r.text
        r = await http.post(url, json=INIT, headers={**JSON_HEADERS, "Authorization": "Bearer x"})
        assert r.status_code == 401
        r = await http.post(
            url, json=INIT, headers={**JSON_HEADERS, **token, "Origin": "https://evil.example"}
        )
        assert r.status_code == 403 and "origin" in r.text
        foreign = {**JSON_HEADERS, **token, "Host": "evil.example"}
        r = await http.post(url, json=INIT, headers=foreign)
        assert r.status_code == 403 and "Host" in r.text
        # the right token: the SDK answers the initialize handshake
        r = await http.post(url, json=INIT, headers={**JSON_HEADERS, **token})
        assert r.status_code == 200, r.text
        assert r.json()["result"]["serverInfo"]["name"] == "orchflow"
        r = await http.get(url, headers=token)
        assert r.status_code == 405
        r = await http.post(f"http://127.0.0.1:{orch.port}/elsewhere", json={}, headers=token)
        assert r.status_code == 404
        r = await http.post(url, content=b"x" * (5 << 20), headers={**JSON_HEADERS, **token})
        assert r.status_code == 413
        r = await http.post(url, content=b"{not json", headers={**JSON_HEADERS, **token})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    # the JSON-RPC WebSocket on the same listener still works
    assert (await orch.call("system.ping")) == {"pong": True}


async def test_many_requests_on_one_keep_alive_connection(orch: OrchestratorProcess) -> None:
    headers = {**JSON_HEADERS, "Authorization": f"Bearer {orch.token}"}
    limits = httpx2.Limits(max_connections=1)
    async with httpx2.AsyncClient(limits=limits) as http:
        replies = await asyncio.gather(
            *(http.post(mcp_url(orch), json={**INIT, "id": i}, headers=headers) for i in range(20))
        )
    assert [r.json()["id"] for r in replies] == list(range(20))


async def test_mcp_on_the_default_unix_socket_listener(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    """The default listener is a Unix socket: /mcp works there too (Host: localhost)."""
    sock_dir = Path(tempfile.mkdtemp(prefix="of-", dir="/tmp"))
    sock_dir.chmod(0o700)
    orch = await OrchestratorProcess.start(
        tmp_path / "home",
        private_tmux.socket,
        listen=f"unix:{sock_dir}/o.sock",
        project_root=project,
    )
    try:
        http = httpx2.AsyncClient(
            transport=httpx2.AsyncHTTPTransport(uds=str(sock_dir / "o.sock")),
            headers={"Authorization": f"Bearer {orch.token}"},
        )
        transport = streamable_http_client("http://localhost/mcp", http_client=http)
        async with http, Client(transport) as client:  # type: ignore[arg-type]
            stored = await client.call_tool("memory_store", {"key": "uds", "value": "yes"})
            assert json.loads(stored.content[0].text)["value"] == "yes"
    finally:
        await orch.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)


async def test_expect_100_continue_gets_an_interim_answer(orch: OrchestratorProcess) -> None:
    """curl sends ``Expect: 100-continue`` for bodies over 1 KiB and waits for it."""
    body = json.dumps({**INIT, "params": {**INIT["params"], "pad": "x" * 2000}}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", orch.port)
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{orch.port}\r\n"
        f"Authorization: Bearer {orch.token}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode())
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert final.startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_a_lock_taken_over_http_is_released_by_a_later_call(
    orch: OrchestratorProcess,
) -> None:
    """Streamable HTTP is stateless: a lock outlives the call that took it (held by MCP
    over HTTP as one owner) until lock_release, which another call may send."""
    async with http_client(orch) as client:
        lock = payload(
            await client.call_tool("lock_acquire", {"resource": "port-8000", "mode": "exclusive"})
        )
    async with await orch.client() as rpc:
        held = (await rpc.call("lock.list"))["locks"]
        assert [(h["lock_id"], h["owner"]) for h in held] == [(lock["lock_id"], "mcp-http")]
    async with http_client(orch) as client:
        payload(await client.call_tool("lock_release", {"lock_id": lock["lock_id"]}))
    async with await orch.client() as rpc:
        assert (await rpc.call("lock.list"))["locks"] == []
