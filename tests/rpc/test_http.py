"""orchflow_core/rpc/http.py: plain HTTP requests with a body on the WebSocket listener,
against a real RpcServer and raw sockets (what a client library would never send)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchflow_core.rpc.auth import new_token
from orchflow_core.rpc.client import RpcClient
from orchflow_core.rpc.http import HttpRequest, HttpResponse
from orchflow_core.rpc.server import RpcServer

TOKEN = new_token()


async def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        200, [("Content-Type", "text/plain")], request.method.encode() + request.body
    )


async def ping(params: object, ctx: object) -> object:
    return {"pong": True}


@pytest.fixture
async def server() -> AsyncIterator[RpcServer]:
    lookup = {"system.ping": ping}.get
    async with RpcServer(lookup, token=TOKEN, body_routes={"/echo": echo}, max_body=1000) as srv:
        yield srv


async def exchange(server: RpcServer, raw: bytes, *, replies: int = 1) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.address.port)
    writer.write(raw)
    out = []
    for _ in range(replies):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        out.append(head.split(b"\r\n", 1)[0] + b" | " + await reader.readexactly(length))
    writer.close()
    return out


def post(server: RpcServer, body: bytes, *, path: str = "/echo", extra: str = "") -> bytes:
    port = server.address.port
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def test_pipelined_requests_on_one_connection_and_websockets_still_work(
    server: RpcServer,
) -> None:
    raw = post(server, b"one") + post(server, b"two")
    assert await exchange(server, raw, replies=2) == [
        b"HTTP/1.1 200 OK | POSTone",
        b"HTTP/1.1 200 OK | POSTtwo",
    ]
    async with await RpcClient.connect(server.url, TOKEN) as client:
        assert await client.call("system.ping") == {"pong": True}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 1\r\n\r\nx", b"401"),
        (b"POST /echo HTTP/1.1\r\nHost: evil:80\r\nContent-Length: 1\r\n\r\nx", b"403"),
        (b"POST /echo HTTP/2\r\n\r\n", b"400"),
        (b"POST /echo HTTP/1.1\r\nbad header\r\n\r\n", b"400"),
        (b"POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"400"),
        (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"501"),
        (b"POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, b"413"),
    ],
)
async def test_refusals(server: RpcServer, raw: bytes, status: bytes) -> None:
    raw = raw.replace(b"{port}", str(server.address.port).encode())
    (reply,) = await exchange(server, raw)
    assert reply.startswith(b"HTTP/1.1 " + status), reply


async def test_routes_and_methods(server: RpcServer) -> None:
    (reply,) = await exchange(server, post(server, b"", path="/nowhere"))
    assert reply.startswith(b"HTTP/1.1 404")
    (reply,) = await exchange(server, post(server, b"{}", path="/"))
    assert reply.startswith(b"HTTP/1.1 405")
    (reply,) = await exchange(server, post(server, b"", extra="Origin: https://x.example\r\n"))
    assert reply.startswith(b"HTTP/1.1 403")


async def test_close_ends_idle_keep_alive_connections(server: RpcServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.address.port)
    writer.write(post(server, b"hi"))
    await reader.readuntil(b"POSThi")
    await asyncio.wait_for(server.close(), 10)
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
    writer.close()
