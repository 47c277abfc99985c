"""The orchestrator process at the door: token, Origin, size limits, bad frames, params."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.rpc.protocol import MethodNotFoundError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess
from tests.rpc.wire import http_get


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _raw(orch: OrchestratorProcess, **options: object) -> object:
    return connect(
        orch.url,
        additional_headers={"Authorization": f"Bearer {orch.token}"},
        compression=None,
        proxy=None,
        **options,  # type: ignore[arg-type]
    )


async def test_discovery_file_is_private_and_token_stays_out_of_argv_and_log(
    orch: OrchestratorProcess,
) -> None:
    mode = stat.S_IMODE(orch.discovery_file.stat().st_mode)
    assert mode == 0o600
    data = json.loads(orch.discovery_file.read_text())
    assert set(data) == {"url", "token", "pid", "version", "started_at", "mode"}
    assert data["url"].startswith("ws://127.0.0.1:") and data["mode"] == "service"
    assert len(data["token"]) >= 43 and data["pid"] == orch.proc.pid
    assert orch.ready_line["url"] == data["url"] and "token" not in orch.ready_line
    # Exercise the server, including failures, so the log has something to leak from.
    await orch.call("memory.store", {"key": "k", "value": "v"})
    with pytest.raises(MethodNotFoundError):
        await orch.call("nope")
    status, _ = await http_get(
        orch.port, [f"Host: 127.0.0.1:{orch.port}", "Authorization: Bearer x"]
    )
    assert status == 401
    cmdline = _cmdline(orch.proc.pid)
    assert orch.token.encode() not in cmdline
    assert orch.token not in orch.url
    await orch.stop()
    log = orch.log_file.read_text()
    assert "ready on ws://127.0.0.1" in log  # the log is the one this server wrote
    assert orch.token not in log


@pytest.mark.parametrize("auth", ["Authorization: Bearer wrong-token", None])
async def test_wrong_or_missing_token_gets_401_and_nothing_runs(
    orch: OrchestratorProcess, auth: str | None
) -> None:
    headers = [f"Host: 127.0.0.1:{orch.port}"] + ([auth] if auth else [])
    status, body = await http_get(orch.port, headers)
    assert status == 401 and b"token" in body
    # A client that sent a request anyway got nothing executed: no connection, no call.
    health = await orch.call("system.health")
    assert health["connections"] == 1  # only this call's own connection
    metrics = await _metrics(orch)
    assert 'method="memory.store"' not in metrics


async def test_browser_origin_gets_403(orch: OrchestratorProcess) -> None:
    headers = [
        f"Host: 127.0.0.1:{orch.port}",
        f"Authorization: Bearer {orch.token}",
        "Origin: https://evil.example",
    ]
    status, _ = await http_get(orch.port, headers)
    assert status == 403


async def test_foreign_host_gets_403(orch: OrchestratorProcess) -> None:
    headers = [f"Host: attacker.example:{orch.port}", f"Authorization: Bearer {orch.token}"]
    status, _ = await http_get(orch.port, headers)
    assert status == 403


async def test_two_mib_frame_closes_1009_and_server_stays_up(orch: OrchestratorProcess) -> None:
    async with _raw(orch, max_size=None) as ws:  # type: ignore[attr-defined]
        big = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "memory.store",
                "params": {"key": "big", "value": "x" * 2**21},
                "id": 1,
            }
        )
        await ws.send(big)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert (await orch.call("memory.list")) == []
    assert (await orch.call("system.health"))["status"] == "ok"


async def test_deep_brackets_get_parse_error_and_server_stays_up(
    orch: OrchestratorProcess,
) -> None:
    async with _raw(orch) as ws:  # type: ignore[attr-defined]
        await ws.send("[" * 200_000)
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["error"]["code"] == -32700 and reply["id"] is None
        await ws.send('{"jsonrpc": "2.0", "method": "system.version", "id": 2}')
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["result"]["protocol"] == "jsonrpc-2.0"


async def test_unknown_method_and_bad_params_name_the_problem(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        with pytest.raises(MethodNotFoundError) as nf:
            await client.call("agent.fly")
        assert nf.value.code == -32601 and "agent.fly" in nf.value.message
        cases: list[tuple[str, dict[str, Any] | list[Any], str]] = [
            ("agent.create", {}, "type"),
            ("agent.create", {"type": 7}, "type"),
            ("memory.store", {"key": "k"}, "value"),
            ("memory.store", {"key": "k", "value": 1, "ttl": "soon"}, "ttl"),
            ("memory.store", {"key": "k", "value": 1, "ttl": -1}, "ttl"),
            ("memory.search", {"query": "x", "limit": 0}, "limit"),
            ("memory.get", {"key": "k", "nmespace": "x"}, "nmespace"),
            ("agent.output", {"id": "a", "lines": "ten"}, "lines"),
            ("system.health", ["positional"], "params"),
        ]
        for method, params, name in cases:
            with pytest.raises(InvalidArgumentError) as bad:
                await client.call(method, params)
            assert bad.value.code == -32602
            assert name in bad.value.message, (method, bad.value.message)
            assert bad.value.data.get("param") == name
        # Errors never crashed anything: the connection still works.
        assert (await client.call("system.health"))["status"] == "ok"


async def test_metrics_need_the_token_and_show_every_family(orch: OrchestratorProcess) -> None:
    status, _ = await http_get(
        orch.port, [f"Host: 127.0.0.1:{orch.port}"], path="/metrics", upgrade=False
    )
    assert status == 401
    await orch.call("memory.store", {"key": "k", "value": "v"})
    with pytest.raises(MethodNotFoundError):
        await orch.call("bogus.method")
    text = await _metrics(orch)
    for family in (
        "orchflow_orchestrator_requests_total",
        "orchflow_orchestrator_request_duration_seconds_bucket",
        "orchflow_orchestrator_connections",
        "orchflow_orchestrator_agents",
        "orchflow_orchestrator_memory_entries 1.0",
    ):
        assert family in text, family
    assert 'orchflow_orchestrator_requests_total{code="ok",method="memory.store"} 1.0' in text
    assert 'method="unknown"' in text and "bogus" not in text


async def _metrics(orch: OrchestratorProcess) -> str:
    status, body = await http_get(
        orch.port,
        [f"Host: 127.0.0.1:{orch.port}", f"Authorization: Bearer {orch.token}"],
        path="/metrics",
        upgrade=False,
    )
    assert status == 200
    return body.decode()


async def test_non_loopback_listen_needs_allow_remote(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    server = await OrchestratorProcess.start(
        tmp_path / "home", private_tmux.socket, listen="0.0.0.0:0", wait_ready=False
    )
    assert await server.wait() == 1
    err = await server.stderr_text()
    assert "not a loopback address" in err and "allow_remote" in err
    assert not server.discovery_file.exists()


async def test_64_clients_hammer_while_one_drops_abruptly(orch: OrchestratorProcess) -> None:
    clients = [await orch.client() for _ in range(64)]
    victim = clients[0]
    calls = 30

    async def hammer(index: int) -> int:
        done = 0
        for i in range(calls):
            if index == 0 and i == 5:
                victim._ws.transport.abort()  # the TCP connection dies mid-stream
                return done
            health = await clients[index].call("system.health")
            assert health["status"] == "ok"
            done += 1
        return done

    results = await asyncio.gather(*(hammer(i) for i in range(64)))
    assert results[1:] == [calls] * 63
    for client in clients[1:]:
        await client.close()
    health = await orch.call("system.health")
    assert health["status"] == "ok"
