"""Streamable HTTP at ``/mcp`` on the orchestrator's own listener.

The request arrives through ``RpcServer``'s body routes (orchflow_core/rpc/http.py: token,
Origin and Host already checked, the body read up to its cap) and is handed, as one ASGI
request, to the SDK's ``StreamableHTTPSessionManager`` in stateless JSON mode: each POST is
answered on its own (no ``Mcp-Session-Id``, no GET stream), which is what the 2026-07-28
revision asks and what the SDK serves to ``initialize``-era clients too. The SDK does the
protocol (both eras, validation, error shapes); we only carry bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import TYPE_CHECKING, Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from orchestrator.mcp.api import LocalApi
from orchestrator.mcp.server import build_server
from orchflow_core.rpc.http import DEFAULT_MAX_BODY, HttpRequest, HttpResponse, plain

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator

PATH = "/mcp"


class McpHttp:
    """The ``/mcp`` route of one orchestrator; ``async with mcp.running():`` around serving."""

    def __init__(self, app: Orchestrator, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.server = build_server(LocalApi(app))
        self.manager = StreamableHTTPSessionManager(
            app=self.server,
            json_response=True,
            stateless=True,
            # Host and Origin were checked before (exact host:port, no Origin at all).
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=max_body,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    async def route(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":  # stateless: no GET stream, no session to DELETE
            response = plain(405, "use POST\n")
            response.headers.append(("Allow", "POST"))
            return response
        path, _, query = request.target.partition("?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers],
            "client": None,
            "server": None,
        }
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await request.disconnected.wait()
            return {"type": "http.disconnect"}

        status = 500
        headers: list[tuple[str, str]] = []
        body = bytearray()

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers.extend(
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", [])
                )
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.manager.handle_request(scope, receive, send)
        return HttpResponse(status, headers, bytes(body))
