"""An RpcServer as its own process, for tests that need a real separate server.

    ORCHFLOW_TEST_TOKEN=... python -m tests.rpc.demo_server [LISTEN]

Prints the server URL on stdout once listening; SIGTERM closes it gracefully.
The token comes from the environment, never argv (CVE-2024-26165).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from orchflow_core.rpc.protocol import Handler, Params
from orchflow_core.rpc.server import ConnectionContext, RpcServer
from tests.rpc.handlers import HANDLERS


async def main() -> None:
    listen = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0"
    stats = {"disconnects": 0, "cleanups": 0}
    server: RpcServer

    async def subscribe(params: Params, ctx: ConnectionContext) -> Any:
        topic = params["topic"] if isinstance(params, dict) else params[0]
        ctx.subscribe(topic)
        ctx.add_cleanup(lambda: stats.__setitem__("cleanups", stats["cleanups"] + 1))
        return topic

    async def server_stats(params: Params, ctx: ConnectionContext) -> Any:
        return {**stats, "connections": len(server.connections)}

    async def publish(params: Params, ctx: ConnectionContext) -> Any:
        assert isinstance(params, dict)
        return server.publish(params["topic"], "event", params.get("data"))

    handlers: dict[str, Handler] = {
        **HANDLERS,
        "subscribe": subscribe,
        "stats": server_stats,
        "publish": publish,
    }

    def on_disconnect(ctx: ConnectionContext) -> None:
        stats["disconnects"] += 1

    server = RpcServer(
        handlers.get,
        token=os.environ["ORCHFLOW_TEST_TOKEN"],
        listen=listen,
        on_disconnect=on_disconnect,
    )
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(server.url, flush=True)
    await stop.wait()
    await server.close(timeout=5)


if __name__ == "__main__":
    asyncio.run(main())
