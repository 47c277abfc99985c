"""The two ways MCP tools reach the orchestrator's JSON-RPC API (tools.Api).

``LocalApi``: inside the orchestrator (Streamable HTTP at ``/mcp``): the same method table
the WebSocket serves (``methods.build_lookup``), called without a socket, with a connection
context of its own so a search's ``search.results`` batches come back to the call.

``RemoteApi``: from ``orchflow-orchestrator mcp`` (stdio): a WebSocket JSON-RPC client of the
running orchestrator, found through its discovery file with the same owner and mode checks as
the Neovim host (orchflow_core/remote/discovery.py). It connects on the first call and again
after a lost connection (an orchestrator restarted meanwhile works on the next call).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import ConnectionLost, OrchflowError, UnavailableError

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator
    from orchflow_core.rpc.client import RpcClient

log = logging.getLogger(__name__)

START_HINT = "start one with `orchflow-orchestrator serve` (or sidecar mode in Neovim)"
BATCH_GRACE_S = 5.0
_ids = itertools.count(1)


class _LocalContext:
    """What a method handler may use of a connection (``rpc.server.ConnectionContext``):
    pushed notifications are kept for the call that caused them."""

    def __init__(self) -> None:
        self.id = f"mcp-{next(_ids)}"
        self.remote = "mcp"
        # a call is no connection: locks its tools take are held by MCP-over-HTTP as one
        # owner (orchestrator/api/coordination.py), released by lock_release or their lease
        self.lock_owner = "mcp-http"
        self.topics: set[str] = set()
        self.data: dict[str, Any] = {}
        self.pushed: list[tuple[str, Any]] = []
        self.closed = False

    def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)

    def add_cleanup(self, fn: Any) -> None:
        """Nothing outlives one call here (no stream.subscribe among the tools)."""

    def push(self, method: str, params: Any = None) -> bool:
        self.pushed.append((method, params))
        return True

    async def notify(self, method: str, params: Any = None) -> bool:
        return self.push(method, params)


class LocalApi:
    """The orchestrator's own method table, called in process."""

    def __init__(self, app: Orchestrator) -> None:
        from orchestrator.methods import build_lookup

        self._lookup = build_lookup(app)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        result, _ = await self.call_collecting(method, params, "")
        return result

    async def call_collecting(
        self, method: str, params: dict[str, Any], notification: str
    ) -> tuple[Any, list[Any]]:
        handler = self._lookup(method)
        assert handler is not None  # lookup answers unknown names with a raising handler
        ctx = _LocalContext()
        result = await handler(params, ctx)
        return result, [p for m, p in ctx.pushed if m == notification]


class RemoteApi:
    """The running orchestrator's API over WebSocket JSON-RPC, from its discovery file."""

    def __init__(self, discovery_file: Path, *, call_timeout: float = 3700.0) -> None:
        # above pane_run's longest wait (3600 s): run.wait answers first
        self.discovery_file = discovery_file
        self._call_timeout = call_timeout
        self._client: RpcClient | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> RpcClient:
        """The client, connecting first if needed; UnavailableError saying how to start one."""
        client = self._client
        if client is not None and not client.closed:  # every call but the first: no lock
            return client
        from orchflow_core.remote import discovery
        from orchflow_core.rpc.client import RpcClient

        async with self._lock:
            if self._client is not None and not self._client.closed:
                return self._client
            try:
                info = discovery.read(self.discovery_file)
                self._client = await RpcClient.connect(
                    info.url, info.token, timeout=5.0, call_timeout=self._call_timeout
                )
            except UnavailableError as exc:
                raise UnavailableError(
                    f"no orchflow orchestrator is running ({exc.message}); {START_HINT}"
                ) from None
            return self._client

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        client = await self.connect()
        try:
            return await client.call(method, params)
        except ConnectionLost as exc:
            await self._forget(client)
            raise UnavailableError(
                f"the orchestrator went away during {method} ({exc.message}); it may or may "
                f"not have run; the next call reconnects ({START_HINT})"
            ) from None

    async def call_collecting(
        self, method: str, params: dict[str, Any], notification: str
    ) -> tuple[Any, list[Any]]:
        client = await self.connect()
        got: list[Any] = []
        done = asyncio.Event()
        key = params.get("search_id")
        if key is None:
            key = params["search_id"] = f"mcp-{next(_ids)}"

        def collect(payload: Any) -> None:
            if isinstance(payload, dict) and payload.get("search_id") == key:
                got.append(payload)
                if payload.get("done"):
                    done.set()

        unregister = client.on_notification(notification, collect)
        try:
            result = await self.call(method, params)
            # Batches are queued before the answer but written by another task: the last
            # one (done) may arrive just after it.
            try:
                async with asyncio.timeout(BATCH_GRACE_S):
                    await done.wait()
            except TimeoutError:
                log.warning("%s %s: no final batch within %ss", method, key, BATCH_GRACE_S)
            return result, got
        finally:
            unregister()

    async def _forget(self, client: RpcClient) -> None:
        async with self._lock:
            if self._client is client:
                self._client = None
        try:
            await client.close()
        except OrchflowError as exc:
            log.debug("closing a lost client: %s", exc.message)

    async def close(self) -> None:
        if self._client is not None:
            await self._forget(self._client)
