"""JSON-RPC 2.0 over WebSocket: the server transport around ``RpcDispatcher``.

Secure by default (DESIGN.md decision 7): loopback or a Unix socket, token in
``Authorization: Bearer`` checked before the upgrade, browser Origins and
foreign Host headers refused, 1 MiB messages, bounded work per connection,
no tracebacks on the wire. permessage-deflate is off (decision 6).

Flow control: each connection runs at most ``max_in_flight`` requests; when
they are all busy the reader stops reading, websockets' receive queue fills
and TCP backpressure reaches the client. Notifications pushed from sync code
go through a bounded per-connection queue; a client that lets it overflow is
disconnected (close code 1013) rather than buffered without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import inspect
import itertools
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from orchflow_core.errors import UnavailableError
from orchflow_core.rpc.auth import ListenAddress, allowed_hosts_for, check_request, parse_listen
from orchflow_core.rpc.http import (
    DEFAULT_MAX_BODY,
    HttpExchange,
    HttpRequest,
    HttpResponse,
    Responder,
    plain,
    sniffing_connection,
)
from orchflow_core.rpc.protocol import HandlerLookup, Params, RpcDispatcher, notification

log = logging.getLogger(__name__)

HttpRoute = Callable[[Request], Awaitable[tuple[int, Mapping[str, str], bytes]]]
ConnectionHook = Callable[["ConnectionContext"], Awaitable[None] | None]
Cleanup = Callable[[], object]


async def _maybe_await(value: object) -> None:
    if inspect.isawaitable(value):
        await value


class ConnectionContext:
    """One client connection; handlers receive it as ``ctx``.

    ``subscribe(topic)`` makes ``RpcServer.publish(topic, ...)`` reach this
    connection; ``add_cleanup(fn)`` registers work (e.g. an EventBus
    unsubscribe) run when the connection ends, however it ends.
    """

    def __init__(
        self,
        conn_id: int,
        ws: ServerConnection,
        *,
        max_in_flight: int,
        max_pending_notifications: int,
        send_timeout: float,
    ) -> None:
        self.id = conn_id
        self.remote = str(ws.remote_address or "unix")
        self.topics: set[str] = set()
        self.data: dict[str, Any] = {}  # free for handlers' per-connection state
        self._ws = ws
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: asyncio.Queue[str] = asyncio.Queue(max_pending_notifications)
        self._send_timeout = send_timeout
        self._cleanups: list[Cleanup] = []
        self._closed = False
        self._writer: asyncio.Task[None] | None = None
        self._dropper: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)

    def add_cleanup(self, fn: Cleanup) -> None:
        """Run ``fn()`` (sync or async) when the connection ends."""
        self._cleanups.append(fn)

    def push(self, method: str, params: Params | None = None) -> bool:
        """Queue a notification without waiting (safe from EventBus callbacks).

        Returns False if the connection is gone or was just dropped for not
        reading its notifications fast enough.
        """
        return self._push_frame(notification(method, params))

    async def notify(self, method: str, params: Params | None = None) -> bool:
        """Send a notification now, waiting for the socket (bounded by ``send_timeout``)."""
        return await self._send_frame(notification(method, params))

    def _push_frame(self, frame: str) -> bool:
        if self._closed:
            return False
        try:
            self._pending.put_nowait(frame)
        except asyncio.QueueFull:
            self._drop("notification queue overflow: client reads too slowly")
            return False
        return True

    async def _send_frame(self, frame: str) -> bool:
        if self._closed:
            return False
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._ws.send(frame)
        except TimeoutError:
            self._drop(f"client did not read a notification within {self._send_timeout}s")
            return False
        except ConnectionClosed:
            return False
        return True

    def _drop(self, reason: str) -> None:
        if self._dropper is None:
            log.warning("dropping connection %s: %s", self.id, reason)
            self._dropper = asyncio.create_task(self._ws.close(CloseCode.TRY_AGAIN_LATER, reason))

    async def _write_pushed(self) -> None:
        while True:
            frame = await self._pending.get()
            try:
                await self._ws.send(frame)
            except ConnectionClosed:
                return


async def _refuse_while_closing(params: Params, ctx: Any) -> Any:
    raise UnavailableError("server is shutting down")


class RpcServer:
    """A WebSocket JSON-RPC server. Use ``async with RpcServer(...) as server``
    or ``await server.start()`` ... ``await server.close()``.

    ``lookup(name)`` returns ``async def handler(params, ctx)`` or ``None``;
    ``ctx`` is the caller's ``ConnectionContext``.
    ``listen``: ``"127.0.0.1:PORT"`` (0 = any free port), ``"[::1]:PORT"``,
    ``"localhost:PORT"`` (binds 127.0.0.1) or ``"unix:/abs/path"`` (the socket
    file is made 0600; its directory should be 0700). Other hosts need
    ``allow_remote=True`` plus their Host names in ``allowed_hosts``.
    ``http_routes`` maps a path (e.g. ``"/metrics"``) to
    ``async fn(request) -> (status, headers, body)``; routes need the token too.
    ``body_routes`` maps a path to ``async fn(HttpRequest) -> HttpResponse`` for requests
    with another method than GET (POST /mcp): same token, Origin and Host rules, bodies up to
    ``max_body`` bytes (rpc/http.py says how they share the listener).
    Limits: ``max_size`` bytes per message (bigger: close 1009),
    ``max_in_flight`` requests per connection, ``max_connections`` (then 503),
    ``max_batch`` items, ``max_depth`` nesting, ``max_pending_notifications``
    queued pushes per connection (then close 1013), ``send_timeout`` seconds
    for a direct ``notify``.
    """

    def __init__(
        self,
        lookup: HandlerLookup,
        *,
        token: str,
        listen: str = "127.0.0.1:0",
        allow_remote: bool = False,
        allowed_hosts: tuple[str, ...] = (),
        max_size: int = 2**20,
        max_in_flight: int = 32,
        max_connections: int = 256,
        max_batch: int = 64,
        max_depth: int = 64,
        max_pending_notifications: int = 1024,
        send_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        on_connect: ConnectionHook | None = None,
        on_disconnect: ConnectionHook | None = None,
        http_routes: Mapping[str, HttpRoute] | None = None,
        body_routes: Mapping[str, Responder] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if len(token) < 32:
            raise ValueError("token too short: use orchflow_core.rpc.auth.new_token()")
        self._listen = parse_listen(listen, allow_remote=allow_remote)
        if allow_remote and not self._listen.is_unix:
            log.warning("listening on %s with allow_remote: reachable beyond this machine", listen)
        self._token = token
        self._extra_hosts = allowed_hosts
        self._allowed_hosts: frozenset[str] = frozenset()
        self._dispatcher = RpcDispatcher(lookup, max_batch=max_batch, max_depth=max_depth)
        self._closing_dispatcher = RpcDispatcher(
            lambda _name: _refuse_while_closing, max_batch=max_batch, max_depth=max_depth
        )
        self._max_size = max_size
        self._max_in_flight = max_in_flight
        self._max_connections = max_connections
        self._max_pending = max_pending_notifications
        self._send_timeout = send_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._routes = dict(http_routes or {})
        self._body_routes = dict(body_routes or {})
        self._max_body = max_body
        self._exchanges: set[HttpExchange] = set()
        self._ids = itertools.count(1)
        self._conns: dict[int, ConnectionContext] = {}
        self._server: Server | None = None
        self._bound: ListenAddress | None = None
        self._closing = False
        self._closed = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("RpcServer.start() called twice")
        options: dict[str, Any] = {
            "process_request": self._process_request,
            "compression": None,
            "max_size": self._max_size,
            "ping_interval": self._ping_interval,
            "ping_timeout": self._ping_timeout,
            "open_timeout": self._open_timeout,
            "close_timeout": self._close_timeout,
            "server_header": None,
        }
        if self._body_routes:
            options["create_connection"] = sniffing_connection(
                self._answer_http, max_body=self._max_body, live=self._exchanges
            )
        if self._listen.path is not None:
            self._server = await unix_serve(self._serve_connection, self._listen.path, **options)
            os.chmod(self._listen.path, 0o600)
            self._bound = self._listen
        else:
            # "localhost" may resolve to two addresses that would get two
            # different ephemeral ports; bind one.
            host = "127.0.0.1" if self._listen.host == "localhost" else self._listen.host
            self._server = await serve(self._serve_connection, host, self._listen.port, **options)
            sockname = self._server.sockets[0].getsockname()
            self._bound = ListenAddress(host=host, port=sockname[1])
        self._allowed_hosts = allowed_hosts_for(self._bound, self._extra_hosts)
        log.info("JSON-RPC server listening on %s", self._bound)

    async def __aenter__(self) -> RpcServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def address(self) -> ListenAddress:
        """The bound address (the real port when asked for port 0)."""
        if self._bound is None:
            raise RuntimeError("RpcServer not started")
        return self._bound

    @property
    def url(self) -> str:
        """What ``RpcClient.connect`` takes: ``ws://HOST:PORT/`` or ``unix:/path``."""
        bound = self.address
        return str(bound) if bound.is_unix else f"ws://{bound}/"

    @property
    def connections(self) -> list[ConnectionContext]:
        return list(self._conns.values())

    async def close(self, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - drain bound
        """Stop accepting, let in-flight requests finish (up to ``timeout``), then close.

        Requests arriving meanwhile are answered "unavailable: server is
        shutting down". Idempotent.
        """
        server = self._server
        if server is None:
            return
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        server.server.close()  # no new TCP connections; handshakes in progress get 503
        in_flight = [t for ctx in self._conns.values() for t in ctx._tasks]
        in_flight += [x.busy for x in self._exchanges if x.busy is not None]
        if in_flight:
            _, pending = await asyncio.wait(in_flight, timeout=timeout)
            if pending:
                log.warning("closing with %d requests still running: cancelled", len(pending))
                for task in pending:
                    task.cancel()
        server.close(close_connections=True)
        for exchange in list(self._exchanges):
            exchange.close()
        try:
            async with asyncio.timeout(timeout):
                await server.wait_closed()
        except TimeoutError:
            log.warning("connections did not close within %ss", timeout)
        self._remove_socket_file()
        self._closed.set()
        log.info("JSON-RPC server on %s closed", self._bound)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _remove_socket_file(self) -> None:
        path = self._listen.path
        if path is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)

    # -- server -> client notifications -----------------------------------

    async def notify(
        self, target: ConnectionContext | None, method: str, params: Params | None = None
    ) -> int:
        """Send a notification to ``target``, or to every connection if ``None``;
        waits for each socket (bounded). Returns how many connections got it."""
        frame = notification(method, params)
        targets = [target] if target is not None else list(self._conns.values())
        sent = await asyncio.gather(*(ctx._send_frame(frame) for ctx in targets))
        return sum(sent)

    def broadcast(self, method: str, params: Params | None = None) -> int:
        """Queue a notification for every connection without waiting."""
        frame = notification(method, params)
        return sum(ctx._push_frame(frame) for ctx in list(self._conns.values()))

    def publish(self, topic: str, method: str, params: Params | None = None) -> int:
        """Queue a notification for connections subscribed to ``topic``."""
        targets = [ctx for ctx in self._conns.values() if topic in ctx.topics]
        if not targets:
            return 0
        frame = notification(method, params)
        return sum(ctx._push_frame(frame) for ctx in targets)

    # -- handshake ---------------------------------------------------------

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        refusal = check_request(
            hosts=headers.get_all("Host"),
            origins=headers.get_all("Origin"),
            authorizations=headers.get_all("Authorization"),
            token=self._token,
            allowed_hosts=self._allowed_hosts,
        )
        if refusal is not None:
            log.info("refused %s: %s %s", ws.remote_address, refusal.status, refusal.reason.strip())
            return ws.respond(refusal.status, refusal.reason)
        path = request.path.partition("?")[0]
        route = self._routes.get(path)
        if route is not None:
            return await self._http_response(route, request)
        if path in self._body_routes:  # e.g. the GET stream of Streamable HTTP: not served
            response = ws.respond(http.HTTPStatus.METHOD_NOT_ALLOWED, "use POST\n")
            response.headers["Allow"] = "POST"
            return response
        if path != "/":
            return ws.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        if len(self._conns) >= self._max_connections:
            return ws.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
        return None

    async def _answer_http(self, request: HttpRequest) -> HttpResponse:
        """A request with a body (rpc/http.py): the handshake's checks, then its route."""
        refusal = check_request(
            hosts=request.get_all("host"),
            origins=request.get_all("origin"),
            authorizations=request.get_all("authorization"),
            token=self._token,
            allowed_hosts=self._allowed_hosts,
        )
        if refusal is not None:
            log.info("refused HTTP %s: %s %s", request.method, refusal.status, refusal.reason)
            return plain(refusal.status, refusal.reason)
        if self._closing:
            return plain(503, "server is shutting down\n")
        if sum(x.busy is not None for x in self._exchanges) > self._max_connections:
            return plain(503, "too many requests in flight\n")
        route = self._body_routes.get(request.path)
        if route is not None:
            return await route(request)
        if request.path == "/" or request.path in self._routes:
            allow = "GET" if request.path in self._routes else "GET (a WebSocket upgrade)"
            return plain(405, f"{request.method} not allowed here; use {allow}\n")
        return plain(404, "not found\n")

    async def _http_response(self, route: HttpRoute, request: Request) -> Response:
        try:
            status, extra, body = await route(request)
        except Exception:
            log.exception("HTTP route %s failed", request.path)
            status, extra, body = 500, {"Content-Type": "text/plain"}, b"internal error\n"
        headers = Headers(extra)
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "close"
        return Response(status, http.HTTPStatus(status).phrase, headers, body)

    # -- connections -------------------------------------------------------

    async def _serve_connection(self, ws: ServerConnection) -> None:
        ctx = ConnectionContext(
            next(self._ids),
            ws,
            max_in_flight=self._max_in_flight,
            max_pending_notifications=self._max_pending,
            send_timeout=self._send_timeout,
        )
        self._conns[ctx.id] = ctx
        log.debug("connection %s from %s", ctx.id, ctx.remote)
        ctx._writer = asyncio.create_task(ctx._write_pushed())
        try:
            if self._on_connect is not None:
                await _maybe_await(self._on_connect(ctx))
            await self._read_requests(ws, ctx)
        except Exception:
            log.exception("connection %s failed", ctx.id)
        finally:
            await self._end_connection(ctx)

    async def _read_requests(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        while True:
            try:
                frame = await ws.recv()
            except ConnectionClosed:
                return
            if isinstance(frame, bytes):
                await ws.close(CloseCode.UNSUPPORTED_DATA, "JSON-RPC frames must be text")
                return
            # All slots busy: stop reading, so backpressure reaches the client.
            if not await self._acquire_slot(ws, ctx):
                return
            dispatcher = self._closing_dispatcher if self._closing else self._dispatcher
            task = asyncio.create_task(self._answer(ctx, dispatcher, frame))
            ctx._tasks.add(task)
            task.add_done_callback(ctx._tasks.discard)

    @staticmethod
    async def _acquire_slot(ws: ServerConnection, ctx: ConnectionContext) -> bool:
        """Wait for a free slot; False if the connection dies first (requests
        that never finish must not keep a dead connection's cleanup waiting)."""
        if not ctx._slots.locked():
            await ctx._slots.acquire()
            return True
        acquire = asyncio.ensure_future(ctx._slots.acquire())
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            done, _ = await asyncio.wait({acquire, closed}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            acquire.cancel()
            closed.cancel()
            raise
        closed.cancel()
        if acquire not in done:
            acquire.cancel()
            return False
        if closed in done:
            ctx._slots.release()
            return False
        return True

    async def _answer(self, ctx: ConnectionContext, dispatcher: RpcDispatcher, frame: str) -> None:
        try:
            reply = await dispatcher.handle_frame(frame, ctx)
            if reply is not None:
                await ctx._ws.send(reply)
        except ConnectionClosed:
            pass
        except Exception:  # handle_frame answers everything; this is a bug guard
            log.exception("answering on connection %s failed", ctx.id)
        finally:
            ctx._slots.release()

    async def _end_connection(self, ctx: ConnectionContext) -> None:
        ctx._closed = True
        self._conns.pop(ctx.id, None)
        # Nobody can receive these answers any more.
        leftovers = [*ctx._tasks, *([ctx._writer] if ctx._writer else [])]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        for fn in ctx._cleanups:
            try:
                await _maybe_await(fn())
            except Exception:
                log.exception("cleanup of connection %s failed", ctx.id)
        if self._on_disconnect is not None:
            try:
                await _maybe_await(self._on_disconnect(ctx))
            except Exception:
                log.exception("on_disconnect hook failed for connection %s", ctx.id)
        log.debug("connection %s closed", ctx.id)
