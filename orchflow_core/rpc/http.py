"""Plain HTTP requests with a body (POST /mcp) on the WebSocket listener.

websockets parses only what a WebSocket handshake is: a GET without a body. So the server's
connections are made by ``sniffing_connection``: a ``ServerConnection`` (websockets' own
documented ``create_connection`` hook) that looks at the first bytes a client sends. A
request line starting ``GET `` stays websockets' (the JSON-RPC socket, ``GET /metrics``); any
other method is handed, with its transport, to ``HttpExchange``, a small HTTP/1.1 reader
(Content-Length bodies up to a cap, keep-alive) whose requests the server answers with the
same token, Origin and Host rules as its handshakes. Nothing is copied through a second
socket: the transport simply changes protocol object, as ``asyncio`` allows.

``HttpExchange`` parses bytes and writes bytes; what a request means is the server's
``Responder``. Why not the SDK's ASGI app under uvicorn on another port: one listener, one
discovery file, one token, and the Unix-socket default keep working (measured in
benchmarks/bench_mcp.py).
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
DEFAULT_MAX_BODY = 4 * 2**20
MAX_DISCARD = 64 * 2**20
DEFAULT_IDLE_S = 30.0  # a connection with no complete request for this long is closed


@dataclass(slots=True)
class HttpRequest:
    """One request: ``target`` is the path with its query; header names are lower case."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Responder = Callable[[HttpRequest], Awaitable[HttpResponse]]


def plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode())


class _Detached:
    """Stands in for a transport websockets no longer owns (it would abort it)."""

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class HttpExchange(asyncio.Protocol):
    """Requests on one connection, answered one at a time by ``respond``."""

    def __init__(
        self,
        transport: asyncio.Transport,
        respond: Responder,
        *,
        max_body: int,
        live: set[HttpExchange],
        idle_s: float = DEFAULT_IDLE_S,
    ) -> None:
        self.transport = transport
        self._respond = respond
        self._max_body = max_body
        self._live = live
        self._idle_s = idle_s
        self._buffer = bytearray()
        self._busy: asyncio.Task[None] | None = None
        self._request: HttpRequest | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._discard = 0  # bytes of a refused body still to read before closing
        self._continued = False  # "100 Continue" sent for the request being read
        live.add(self)
        self._arm()

    @property
    def busy(self) -> asyncio.Task[None] | None:
        """The request being answered, if any (the server waits for it when closing)."""
        return self._busy

    def close(self) -> None:
        self.transport.close()

    def _arm(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._idle_s, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._discard:
            self._skip(len(data))
            return
        self._buffer += data
        if self._busy is None:
            self._next()

    def _skip(self, n: int) -> None:
        self._discard = max(0, self._discard - n)
        if not self._discard:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._live.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        if self._request is not None:
            self._request.disconnected.set()

    def _next(self) -> None:
        """Start answering the buffered request once it is complete."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._finish(plain(431, "request head too large\n"))
            return
        try:
            method, target, version, headers = _parse_head(bytes(self._buffer[:end]))
        except ValueError as exc:
            self._finish(plain(400, f"bad request: {exc}\n"))
            return
        names = {k for k, _ in headers}
        if "transfer-encoding" in names:
            self._finish(plain(501, "chunked request bodies are not supported\n"))
            return
        lengths = {v for k, v in headers if k == "content-length"}
        if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
            self._finish(plain(400, "bad Content-Length\n"))
            return
        length = int(next(iter(lengths), "0"))
        if length > self._max_body:
            # Answer now, but read the body before closing: a client still sending it would
            # otherwise see a broken pipe instead of the answer (up to MAX_DISCARD; past that,
            # closing is cheaper than reading).
            self._write(plain(413, f"request body over {self._max_body} bytes\n"), True)
            if length > MAX_DISCARD:
                self.transport.close()
                return
            self._discard = length
            received, self._buffer = len(self._buffer) - end - 4, bytearray()
            self._skip(received)
            return
        if len(self._buffer) < end + 4 + length:
            # the rest of the body is on its way; a client that asked (curl does for bodies
            # over 1 KiB) waits for this before sending it
            if not self._continued and ("expect", "100-continue") in {
                (k, v.lower()) for k, v in headers
            }:
                self._continued = True
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        self._continued = False
        close = version == "HTTP/1.0" or any(
            k == "connection" and v.lower() == "close" for k, v in headers
        )
        self._request = HttpRequest(method, target, headers, body)
        self.transport.pause_reading()
        if self._idle is not None:
            self._idle.cancel()
        self._busy = asyncio.get_running_loop().create_task(self._answer(self._request, close))

    async def _answer(self, request: HttpRequest, close: bool) -> None:
        try:
            response = await self._respond(request)
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            response = plain(500, "internal error\n")
        if self.transport.is_closing():
            return
        self._write(response, close)
        self._busy, self._request = None, None
        if close:
            self.transport.close()
            return
        self.transport.resume_reading()
        self._arm()
        if self._buffer:
            self._next()

    def _finish(self, response: HttpResponse) -> None:
        """Answer a request we refuse to read, then close (its body may still be coming)."""
        self._write(response, True)
        self.transport.close()

    def _write(self, response: HttpResponse, close: bool) -> None:
        phrase = http.HTTPStatus(response.status).phrase
        lines = [f"HTTP/1.1 {response.status} {phrase}"]
        lines += [f"{k}: {v}" for k, v in response.headers if k.lower() != "content-length"]
        lines.append(f"Content-Length: {len(response.body)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.transport.write(head + response.body)


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    text = head.decode("latin-1")
    request_line, *header_lines = text.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[1]:
        raise ValueError(f"invalid request line {request_line[:80]!r}")
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"invalid header line {line[:80]!r}")
        headers.append((name.lower(), value.strip()))
    return parts[0], parts[1], parts[2], headers


def sniffing_connection(
    respond: Responder, *, max_body: int, live: set[HttpExchange]
) -> type[ServerConnection]:
    """A ``ServerConnection`` class for ``serve(create_connection=...)``: GET requests stay
    WebSocket handshakes; any other method goes to an ``HttpExchange`` answered by
    ``respond``."""

    class SniffingConnection(ServerConnection):
        _mode: str | None = None  # "ws" or "http" once the first bytes told
        _sniffed = b""

        def data_received(self, data: bytes) -> None:
            if self._mode == "ws":
                super().data_received(data)
                return
            self._sniffed += data
            head = self._sniffed[:4]
            if len(head) < 4 and b"GET ".startswith(head):
                return  # not enough to tell yet
            sniffed, self._sniffed = self._sniffed, b""
            if head == b"GET ":
                self._mode = "ws"
                super().data_received(sniffed)
            else:
                self._mode = "http"
                self._hand_over(sniffed)

        def _hand_over(self, sniffed: bytes) -> None:
            transport = self.transport
            exchange = HttpExchange(transport, respond, max_body=max_body, live=live)
            transport.set_protocol(exchange)
            # websockets' handshake now sees a connection that ended before its request
            # and aborts "its" transport, which is no longer its own.
            self.transport = _Detached()  # type: ignore[assignment]
            super().connection_lost(None)
            exchange.data_received(sniffed)

    return SniffingConnection
