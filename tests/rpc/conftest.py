"""A real RpcServer on 127.0.0.1 port 0 (or a Unix socket), in this process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from orchflow_core.rpc.auth import new_token
from orchflow_core.rpc.protocol import Handler, Params
from orchflow_core.rpc.server import ConnectionContext, RpcServer
from tests.rpc.handlers import HANDLERS


@dataclass
class Recorder:
    """What the server did: every handler call, connect and disconnect."""

    calls: list[str] = field(default_factory=list)
    connected: list[int] = field(default_factory=list)
    disconnected: list[int] = field(default_factory=list)
    cleaned: list[int] = field(default_factory=list)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_disconnects(self, count: int, *, within: float = 5.0) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: len(self.disconnected) >= count)


def make_lookup(rec: Recorder) -> Any:
    async def subscribe(params: Params, ctx: ConnectionContext) -> Any:
        topic = params["topic"] if isinstance(params, dict) else params[0]
        ctx.subscribe(topic)
        ctx.add_cleanup(lambda: rec.cleaned.append(ctx.id))
        return {"subscribed": topic, "connection": ctx.id}

    extra: dict[str, Handler] = {"subscribe": subscribe}

    def lookup(name: str) -> Handler | None:
        handler = extra.get(name) or HANDLERS.get(name)
        if handler is None:
            return None

        async def recorded(params: Params, ctx: Any) -> Any:
            rec.calls.append(name)
            return await handler(params, ctx)

        return recorded

    return lookup


def make_server(rec: Recorder, token: str, **options: Any) -> RpcServer:
    async def on_disconnect(ctx: ConnectionContext) -> None:
        rec.disconnected.append(ctx.id)
        rec.gone.set()
        async with rec.changed:
            rec.changed.notify_all()

    return RpcServer(
        make_lookup(rec),
        token=token,
        on_connect=lambda ctx: rec.connected.append(ctx.id),
        on_disconnect=on_disconnect,
        **options,
    )


@pytest.fixture
def token() -> str:
    return new_token()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
async def server(rec: Recorder, token: str) -> AsyncIterator[RpcServer]:
    async with make_server(rec, token) as srv:
        yield srv
