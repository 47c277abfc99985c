"""Handlers shared by the rpc tests and the demo server process.

They are real handlers (the JSON-RPC spec §7 examples plus a few that fail in
each way a real one can), not doubles of anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orchflow_core.errors import InvalidArgumentError, NotFoundError, UnavailableError
from orchflow_core.rpc.protocol import Handler, Params


async def subtract(params: Params, ctx: Any) -> Any:
    if isinstance(params, list):
        minuend, subtrahend = params
    else:
        minuend, subtrahend = params["minuend"], params["subtrahend"]
    return minuend - subtrahend


async def sum_(params: Params, ctx: Any) -> Any:
    return sum(params if isinstance(params, list) else params.values())


async def get_data(params: Params, ctx: Any) -> Any:
    return ["hello", 5]


async def accept(params: Params, ctx: Any) -> Any:
    return None  # "update" and "notify_hello" in spec §7: called as notifications


async def echo(params: Params, ctx: Any) -> Any:
    return params


async def need_int(params: Params, ctx: Any) -> Any:
    value = params.get("count") if isinstance(params, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgumentError(
            f"parameter 'count' must be an integer, got {type(value).__name__}", param="count"
        )
    return value * 2


async def missing(params: Params, ctx: Any) -> Any:
    raise NotFoundError("no pane %99", pane_id="%99")


async def unavailable(params: Params, ctx: Any) -> Any:
    raise UnavailableError("orchestrator not running")


async def boom(params: Params, ctx: Any) -> Any:
    raise RuntimeError("secret-internal-detail /home/user/.token")


async def sleep(params: Params, ctx: Any) -> Any:
    seconds = params.get("seconds", 0.1) if isinstance(params, dict) else 0.1
    await asyncio.sleep(seconds)
    return {"slept": seconds}


async def unserialisable(params: Params, ctx: Any) -> Any:
    return {1, 2, 3}


HANDLERS: dict[str, Handler] = {
    "subtract": subtract,
    "sum": sum_,
    "get_data": get_data,
    "update": accept,
    "notify_hello": accept,
    "echo": echo,
    "need_int": need_int,
    "missing": missing,
    "unavailable": unavailable,
    "boom": boom,
    "sleep": sleep,
    "unserialisable": unserialisable,
}
