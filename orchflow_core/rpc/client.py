"""JSON-RPC 2.0 over WebSocket: the client side.

Requests are built and responses parsed with jsonrpcclient (``request`` /
``parse``); errors come back as the ``OrchflowError`` subclass their code
names (``protocol.error_from_wire``). Calls are multiplexed by id over one
connection, so any number of coroutines may ``call()`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import Callable
from typing import Any

import jsonrpcclient
import orjson
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from orchflow_core.errors import (
    ConnectionLost,
    PermissionDeniedError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.rpc.protocol import Params, error_from_wire, notification

log = logging.getLogger(__name__)

NotificationCallback = Callable[[Any], object]


class RpcClient:
    """A connected client; make one with ``await RpcClient.connect(url, token)``."""

    def __init__(self, ws: ClientConnection, url: str, *, call_timeout: float) -> None:
        self._ws = ws
        self._url = url
        self._call_timeout = call_timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._callbacks: dict[str, list[NotificationCallback]] = {}
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        self._lost: str | None = None  # why the connection ended
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded handshake is part of the API
        call_timeout: float = 30.0,
        max_size: int = 2**24,
        ping_interval: float | None = 20.0,
    ) -> RpcClient:
        """Connect to ``ws://HOST:PORT/`` or a Unix socket (``unix:/path`` or ``/path``).

        ``timeout`` bounds the connection and handshake; ``call_timeout`` is
        the default for ``call()``. Raises ``PermissionDeniedError`` when the
        server refuses us (401/403), ``UnavailableError`` when nothing answers,
        ``TimeoutError_`` when the handshake takes longer than ``timeout``.
        """
        options: dict[str, Any] = {
            "additional_headers": {"Authorization": f"Bearer {token}"},
            "compression": None,
            "max_size": max_size,
            "open_timeout": timeout,
            "ping_interval": ping_interval,
            "proxy": None,
        }
        path = url[len("unix:") :] if url.startswith("unix:") else url
        try:
            if path.startswith("/"):
                ws = await unix_connect(path, **options)
            else:
                ws = await connect(url, **options)
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = bytes(exc.response.body).decode("utf-8", "replace").strip()[:200]
            raise PermissionDeniedError(
                f"{url} refused the connection: HTTP {status} {body}", url=url, status=status
            ) from None
        except TimeoutError:
            raise TimeoutError_(f"{url}: no handshake within {timeout}s", url=url) from None
        except (OSError, InvalidHandshake) as exc:
            raise UnavailableError(f"cannot connect to {url}: {exc}", url=url) from None
        return cls(ws, url, call_timeout=call_timeout)

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._reader.done()

    async def call(
        self,
        method: str,
        params: Params | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call bound, default call_timeout
    ) -> Any:
        """Call ``method`` and return its result, or raise the mapped ``OrchflowError``.

        ``timeout`` defaults to the client's ``call_timeout``; running out
        raises ``TimeoutError_`` (the server may still finish the work). A connection
        that dies before the answer raises ``ConnectionLost`` (the request may or may
        not have run); an error answer from the peer is never ``ConnectionLost``.
        """
        if self._lost is not None:
            raise self._lost_error()
        limit = self._call_timeout if timeout is None else timeout
        id_ = next(self._ids)
        wire_params = tuple(params) if isinstance(params, list) else params
        message = jsonrpcclient.request(method, params=wire_params, id=id_)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[id_] = future
        try:
            async with asyncio.timeout(limit):
                await self._ws.send(orjson.dumps(message), text=True)
                return await future
        except TimeoutError:
            raise TimeoutError_(
                f"{method} got no answer within {limit}s", method=method, timeout=limit
            ) from None
        except ConnectionClosed:
            raise self._lost_error() from None
        finally:
            self._pending.pop(id_, None)

    async def notify(self, method: str, params: Params | None = None) -> None:
        """Send a notification (the server never answers it)."""
        if self._lost is not None:
            raise self._lost_error()
        try:
            await self._ws.send(notification(method, params))
        except ConnectionClosed:
            raise self._lost_error() from None

    def on_notification(self, method: str, fn: NotificationCallback) -> Callable[[], None]:
        """Call ``fn(params)`` for each ``method`` notification (sync or async ``fn``).

        Returns a function that unregisters it.
        """
        self._callbacks.setdefault(method, []).append(fn)

        def unregister() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.get(method, []).remove(fn)

        return unregister

    async def wait_closed(self) -> str:
        """Wait until the connection has ended (either side closed it, or it died);
        returns why."""
        await asyncio.wait({self._reader})  # never cancels the reader itself
        return self._lost or "closed"

    async def close(self) -> None:
        """Close the connection; pending calls fail with ``ConnectionLost``. Idempotent."""
        await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        for task in list(self._callback_tasks):
            task.cancel()

    # -- receiving ---------------------------------------------------------

    async def _read(self) -> None:
        reason = "closed"
        try:
            async for frame in self._ws:
                try:
                    self._on_frame(orjson.loads(frame))
                except ValueError:
                    log.warning("ignoring a frame that is not JSON from %s", self._url)
        except ConnectionClosed as exc:
            reason = f"closed ({exc})"
        finally:
            self._lost = reason
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(self._lost_error())

    def _lost_error(self) -> ConnectionLost:
        return ConnectionLost(f"connection to {self._url} {self._lost or 'closed'}", url=self._url)

    def _on_frame(self, message: Any) -> None:
        for item in message if isinstance(message, list) else [message]:
            if not isinstance(item, dict):
                log.warning("ignoring a non-object JSON-RPC message from %s", self._url)
            elif "id" in item:
                self._on_response(item)
            elif isinstance(item.get("method"), str):
                self._on_notification(item["method"], item.get("params"))

    def _on_response(self, item: dict[str, Any]) -> None:
        future = self._pending.get(item["id"]) if isinstance(item["id"], int) else None
        if future is None or future.done():
            if item.get("error") is not None:
                log.warning("unmatched error from %s: %s", self._url, item["error"])
            return
        try:
            response = jsonrpcclient.parse(item)
        except (KeyError, TypeError):
            future.set_exception(error_from_wire({"code": -32603, "message": "malformed response"}))
            return
        if isinstance(response, jsonrpcclient.Ok):
            future.set_result(response.result)
        elif isinstance(response, jsonrpcclient.Error):
            error = {"code": response.code, "message": response.message, "data": response.data}
            future.set_exception(error_from_wire(error))

    def _on_notification(self, method: str, params: Any) -> None:
        for fn in list(self._callbacks.get(method, ())):
            try:
                result = fn(params)
            except Exception:
                log.exception("notification callback for %s failed", method)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Future[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("notification callback failed", exc_info=task.exception())
