"""A client process that subscribes and calls in a loop until it is killed.

    ORCHFLOW_TEST_TOKEN=... python -m tests.rpc.demo_client URL

Prints "ready" after its first answered call, then one "." per 50 calls.
"""

from __future__ import annotations

import asyncio
import os
import sys

from orchflow_core.rpc.client import RpcClient


async def main() -> None:
    client = await RpcClient.connect(sys.argv[1], os.environ["ORCHFLOW_TEST_TOKEN"])
    await client.call("subscribe", {"topic": "doomed"})
    print("ready", flush=True)
    n = 0
    while True:
        # Keep requests in flight (a slow one too) when the kill lands.
        await asyncio.gather(client.call("echo", [n]), client.call("sleep", {"seconds": 0.01}))
        n += 1
        if n % 50 == 0:
            print(".", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
