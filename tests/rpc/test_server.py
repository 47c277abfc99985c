"""RpcServer + RpcClient over real sockets: security, limits, notifications, close."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from orchflow_core.errors import (
    ConnectionLost,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.rpc.client import RpcClient
from orchflow_core.rpc.protocol import Handler, InternalError, MethodNotFoundError
from orchflow_core.rpc.server import RpcServer
from tests.rpc.conftest import Recorder, make_server
from tests.rpc.handlers import HANDLERS
from tests.rpc.waiting import Collector
from tests.rpc.wire import http_get

NO_METHODS: dict[str, Handler] = {}


def port_of(server: RpcServer) -> int:
    assert server.address.port
    return server.address.port


def raw_ws(server: RpcServer, token: str, **options: Any) -> Any:
    return connect(
        server.url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        proxy=None,
        **options,
    )


async def test_correct_token_works(server: RpcServer, token: str, rec: Recorder) -> None:
    assert server.url.startswith("ws://127.0.0.1:") and port_of(server) > 0
    async with await RpcClient.connect(server.url, token) as client:
        assert await client.call("subtract", [42, 23]) == 19
        assert await client.call("subtract", {"minuend": 1, "subtrahend": 3}) == -2
        assert await client.call("echo") == {}
    assert rec.calls == ["subtract", "subtract", "echo"]


@pytest.mark.parametrize("presented", ["wrong", None])
async def test_wrong_or_missing_token_is_401_and_nothing_runs(
    server: RpcServer, token: str, rec: Recorder, presented: str | None
) -> None:
    if presented is None:
        with pytest.raises(InvalidStatus) as raw:
            async with connect(server.url, compression=None, proxy=None):
                pass
        assert raw.value.response.status_code == 401
    else:
        with pytest.raises(PermissionDeniedError, match="HTTP 401") as info:
            await RpcClient.connect(server.url, presented)
        assert info.value.data["status"] == 401
    status, body = await http_get(port_of(server), [f"Host: 127.0.0.1:{port_of(server)}"])
    assert status == 401 and token.encode() not in body
    # A token in the query string is not a credential (URLs end up in logs).
    status, _ = await http_get(
        port_of(server), [f"Host: 127.0.0.1:{port_of(server)}"], path=f"/?token={token}"
    )
    assert status == 401
    assert rec.calls == [] and rec.connected == []


async def test_browser_origin_is_403_even_with_the_token(
    server: RpcServer, token: str, rec: Recorder
) -> None:
    port = port_of(server)
    for origin in ("https://evil.example", f"http://127.0.0.1:{port}", "null"):
        status, _ = await http_get(
            port, [f"Host: 127.0.0.1:{port}", f"Origin: {origin}", f"Authorization: Bearer {token}"]
        )
        assert status == 403
    assert rec.connected == []


@pytest.mark.parametrize(
    "host_headers",
    [["Host: evil.example"], ["Host: evil.example:{port}"], ["Host: "], [], ["Host: 127.0.0.1:1"]],
)
async def test_bad_host_is_403(
    server: RpcServer, token: str, rec: Recorder, host_headers: list[str]
) -> None:
    port = port_of(server)
    headers = [h.format(port=port) for h in host_headers] + [f"Authorization: Bearer {token}"]
    status, _ = await http_get(port, headers)
    assert status == 403
    assert rec.connected == []


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
async def test_loopback_hosts_upgrade(server: RpcServer, token: str, host: str) -> None:
    port = port_of(server)
    status, _ = await http_get(
        port, [f"Host: {host.format(port=port)}", f"Authorization: Bearer {token}"]
    )
    assert status == 101


async def test_two_mib_frame_closes_with_1009(server: RpcServer, token: str, rec: Recorder) -> None:
    async with raw_ws(server, token, max_size=None) as ws:
        big = json.dumps({"jsonrpc": "2.0", "method": "echo", "params": ["x" * 2**21], "id": 1})
        await ws.send(big)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert rec.calls == []


async def test_binary_frames_close_with_1003(server: RpcServer, token: str) -> None:
    async with raw_ws(server, token) as ws:
        await ws.send(b'{"jsonrpc":"2.0","method":"echo","id":1}')
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1003


async def test_deep_nesting_answers_parse_error_and_keeps_serving(
    server: RpcServer, token: str
) -> None:
    async with raw_ws(server, token) as ws:
        await ws.send("[" * 200_000)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["error"]["code"] == -32700 and reply["id"] is None
        await ws.send('{"jsonrpc":"2.0","method":"subtract","params":[5,3],"id":"after"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {
            "jsonrpc": "2.0",
            "result": 2,
            "id": "after",
        }


async def test_batches_and_notifications_over_the_wire(server: RpcServer, token: str) -> None:
    async with raw_ws(server, token) as ws:
        await ws.send(
            '[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},'
            '{"jsonrpc":"2.0","method":"notify_hello","params":[7]},'
            '{"jsonrpc":"2.0","method":"get_data","id":"9"}]'
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == [
            {"jsonrpc": "2.0", "result": 7, "id": "1"},
            {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
        ]
        await ws.send('{"jsonrpc":"2.0","method":"notify_hello","params":[7]}')
        await ws.send('{"jsonrpc":"2.0","method":"echo","params":["next"],"id":2}')
        # The notification got nothing: the next frame is the answer to id 2.
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["id"] == 2


async def test_errors_map_back_to_the_hierarchy(server: RpcServer, token: str) -> None:
    async with await RpcClient.connect(server.url, token) as client:
        with pytest.raises(MethodNotFoundError, match="nope") as nf:
            await client.call("nope")
        assert nf.value.code == -32601
        with pytest.raises(InvalidArgumentError, match="'count'") as bad:
            await client.call("need_int", {"count": "three"})
        assert bad.value.data == {"param": "count"}
        with pytest.raises(NotFoundError, match="no pane %99"):
            await client.call("missing")
        with pytest.raises(
            UnavailableError, match=r"^unavailable: orchestrator not running$"
        ) as no:
            await client.call("unavailable")
        assert not isinstance(no.value, ConnectionLost)  # the peer said so: not a lost socket
        with pytest.raises(InternalError) as internal:
            await client.call("boom")
        assert internal.value.message == "Internal error"
        assert "secret" not in repr(internal.value.data)
        # The connection survives every one of those.
        assert await client.call("echo", ["still here"]) == ["still here"]


async def test_client_call_timeout(server: RpcServer, token: str) -> None:
    async with await RpcClient.connect(server.url, token) as client:
        with pytest.raises(TimeoutError_, match=r"sleep got no answer within 0\.05s"):
            await client.call("sleep", {"seconds": 1}, timeout=0.05)
        assert await client.call("echo", [1]) == [1]


async def test_concurrent_calls_are_multiplexed(server: RpcServer, token: str) -> None:
    async with await RpcClient.connect(server.url, token) as client:
        slow = asyncio.create_task(client.call("sleep", {"seconds": 0.3}))
        fast = [client.call("subtract", [i, 1]) for i in range(50)]
        assert await asyncio.gather(*fast) == [i - 1 for i in range(50)]
        assert not slow.done()  # answered out of order, matched by id
        assert await slow == {"slept": 0.3}


async def test_in_flight_requests_are_bounded_per_connection(token: str) -> None:
    release = asyncio.Event()
    full = asyncio.Event()
    running = 0
    peak = 0

    async def hold(params: Any, ctx: Any) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            full.set()
        await release.wait()
        running -= 1
        return "done"

    methods: dict[str, Handler] = {"hold": hold}
    async with (
        RpcServer(methods.get, token=token, max_in_flight=3) as server,
        await RpcClient.connect(server.url, token) as client,
    ):
        calls = [asyncio.create_task(client.call("hold")) for _ in range(10)]
        await asyncio.wait_for(full.wait(), 5)
        await asyncio.sleep(0.1)  # room for a 4th to start, if the bound were broken
        assert peak == 3  # the other 7 wait in the socket, not in tasks
        release.set()
        assert await asyncio.gather(*calls) == ["done"] * 10
    assert peak == 3


async def test_notifications_reach_subscribed_clients(
    server: RpcServer, token: str, rec: Recorder
) -> None:
    got = {"a": Collector(), "b": Collector()}
    a = await RpcClient.connect(server.url, token)
    b = await RpcClient.connect(server.url, token)
    a.on_notification("pane.output", got["a"])
    b.on_notification("pane.output", got["b"])
    await a.call("subscribe", {"topic": "pane:%1"})
    assert server.publish("pane:%1", "pane.output", {"pane": "%1", "data": "hi"}) == 1
    assert await server.notify(None, "pane.output", {"all": True}) == 2
    assert await got["a"].wait_for(2) == [{"pane": "%1", "data": "hi"}, {"all": True}]
    assert await got["b"].wait_for(1) == [{"all": True}]

    # Pushes from sync code (EventBus callbacks) are queued, then delivered.
    for i in range(100):
        server.publish("pane:%1", "pane.output", {"n": i})
    assert [p["n"] for p in (await got["a"].wait_for(102))[2:]] == list(range(100))
    assert len(got["b"].items) == 1

    await a.close()
    await b.close()
    await rec.wait_disconnects(2)
    assert len(rec.cleaned) == 1  # a's subscription cleanup ran
    assert server.publish("pane:%1", "pane.output", {}) == 0


async def test_abrupt_disconnect_cleans_up(server: RpcServer, token: str, rec: Recorder) -> None:
    client = await RpcClient.connect(server.url, token)
    await client.call("subscribe", ["pane:%2"])
    pending = asyncio.create_task(client.call("sleep", {"seconds": 5}))
    await client.call("echo", [])  # answered after the sleep request was read
    client._ws.transport.abort()  # TCP reset, no close frame: like a killed process
    with pytest.raises(ConnectionLost):
        await pending
    assert "closed" in await client.wait_closed()
    async with asyncio.timeout(5):
        await rec.gone.wait()
    assert rec.cleaned == rec.connected
    assert server.connections == []
    assert server.publish("pane:%2", "x") == 0


async def test_graceful_close_finishes_in_flight_requests(token: str, rec: Recorder) -> None:
    server = make_server(rec, token)
    await server.start()
    client = await RpcClient.connect(server.url, token)
    slow = asyncio.create_task(client.call("sleep", {"seconds": 0.3}))
    await client.call("echo", [])  # answered after the sleep request was read
    closing = asyncio.create_task(server.close(timeout=5))
    await asyncio.sleep(0)  # close() has begun
    with pytest.raises(UnavailableError, match="shutting down"):
        await client.call("echo", [1])  # new work during close is refused, not run
    assert await slow == {"slept": 0.3}
    await closing
    with pytest.raises(UnavailableError):
        await client.call("echo", [1])
    with pytest.raises(UnavailableError, match="cannot connect"):
        await RpcClient.connect(server.url, token, timeout=2)
    await server.close()  # idempotent


async def test_close_timeout_cancels_stuck_requests(token: str, rec: Recorder) -> None:
    server = make_server(rec, token)
    await server.start()
    client = await RpcClient.connect(server.url, token)
    stuck = asyncio.create_task(client.call("sleep", {"seconds": 30}))
    await client.call("echo", [])
    await server.close(timeout=0.2)
    with pytest.raises(UnavailableError):
        await stuck
    assert rec.cleaned == [] and rec.disconnected == rec.connected


async def test_unix_socket(tmp_path: Path, token: str, rec: Recorder) -> None:
    path = tmp_path / "rpc.sock"
    async with make_server(rec, token, listen=f"unix:{path}") as server:
        assert server.url == f"unix:{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        async with await RpcClient.connect(server.url, token) as client:
            assert await client.call("subtract", [10, 4]) == 6
        with pytest.raises(PermissionDeniedError, match="401"):
            await RpcClient.connect(str(path), "wrong-token")
        status, _ = await http_get(
            str(path), ["Host: evil.example", f"Authorization: Bearer {token}"]
        )
        assert status == 403
    assert not path.exists()


async def test_http_route_requires_the_token(token: str, rec: Recorder) -> None:
    async def metrics(request: Any) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/plain; version=0.0.4"}, b"orchflow_up 1\n"

    async with make_server(rec, token, http_routes={"/metrics": metrics}) as server:
        port = port_of(server)
        host = f"Host: 127.0.0.1:{port}"
        status, body = await http_get(port, [host], path="/metrics", upgrade=False)
        assert status == 401 and b"orchflow_up" not in body
        status, body = await http_get(
            port, [host, f"Authorization: Bearer {token}"], path="/metrics", upgrade=False
        )
        assert (status, body) == (200, b"orchflow_up 1\n")
        status, _ = await http_get(port, [host, f"Authorization: Bearer {token}"], path="/other")
        assert status == 404


async def test_non_loopback_listen_needs_allow_remote(token: str) -> None:
    with pytest.raises(PermissionDeniedError, match=r"0\.0\.0\.0"):
        RpcServer(NO_METHODS.get, token=token, listen="0.0.0.0:0")
    async with (
        RpcServer(HANDLERS.get, token=token, listen="0.0.0.0:0", allow_remote=True) as server,
        await RpcClient.connect(f"ws://127.0.0.1:{port_of(server)}/", token) as client,
    ):
        assert await client.call("echo", ["remote ok"]) == ["remote ok"]


async def test_oversized_notification_queue_drops_the_slow_client(token: str) -> None:
    connected = asyncio.Event()
    async with (
        RpcServer(
            NO_METHODS.get,
            token=token,
            max_pending_notifications=4,
            on_connect=lambda ctx: connected.set(),
        ) as server,
        raw_ws(server, token, max_queue=1) as ws,
    ):
        await asyncio.wait_for(connected.wait(), 5)
        ctx = server.connections[0]
        big = {"data": "x" * 60_000}
        pushed = [ctx.push("pane.output", big) for _ in range(200)]
        assert pushed[:4] == [True] * 4 and pushed[-1] is False
        with pytest.raises(ConnectionClosedError) as info:
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1013


def test_token_must_be_long() -> None:
    with pytest.raises(ValueError, match="token too short"):
        RpcServer(NO_METHODS.get, token="short")


def test_notification_frames_are_compact_orjson() -> None:
    assert orjson.loads(b'{"a":1}') == {"a": 1}


async def test_dead_client_with_all_slots_stuck_is_still_cleaned_up(token: str) -> None:
    started = 0
    cancelled = 0
    gone = asyncio.Event()
    both = asyncio.Event()

    async def forever(params: Any, ctx: Any) -> Any:
        nonlocal started, cancelled
        started += 1
        if started == 2:
            both.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise

    methods: dict[str, Handler] = {"forever": forever}
    async with RpcServer(
        methods.get, token=token, max_in_flight=2, on_disconnect=lambda ctx: gone.set()
    ) as server:
        client = await RpcClient.connect(server.url, token)
        calls = [asyncio.create_task(client.call("forever")) for _ in range(5)]
        await asyncio.wait_for(both.wait(), 5)
        await asyncio.sleep(0.05)
        assert started == 2  # the reader is parked waiting for a slot
        client._ws.transport.abort()
        await asyncio.wait_for(gone.wait(), 5)
        assert cancelled == 2 and server.connections == []
        for call in calls:
            with pytest.raises(UnavailableError):
                await call
