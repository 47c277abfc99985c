"""JSON-RPC 2.0 for orchflow: a pure protocol core plus WebSocket transports.

    protocol  RpcDispatcher (frame in -> frame out, no I/O), error-code map
    auth      token, Origin and Host checks; where a server may listen
    server    RpcServer / ConnectionContext (websockets, loaded on first use)
    client    RpcClient (websockets + jsonrpcclient, loaded on first use)

The transports are imported lazily so that users of the pure core (and
``import orchflow_core.rpc``) do not pay for websockets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orchflow_core.rpc.auth import new_token
from orchflow_core.rpc.protocol import (
    InternalError,
    InvalidRequestError,
    MethodNotFoundError,
    ParseError,
    RpcDispatcher,
    error_classes,
    error_from_wire,
    notification,
)

if TYPE_CHECKING:
    from orchflow_core.rpc.client import RpcClient
    from orchflow_core.rpc.server import ConnectionContext, RpcServer

__all__ = [
    "ConnectionContext",
    "InternalError",
    "InvalidRequestError",
    "MethodNotFoundError",
    "ParseError",
    "RpcClient",
    "RpcDispatcher",
    "RpcServer",
    "error_classes",
    "error_from_wire",
    "new_token",
    "notification",
]

_LAZY = {
    "RpcClient": "orchflow_core.rpc.client",
    "RpcServer": "orchflow_core.rpc.server",
    "ConnectionContext": "orchflow_core.rpc.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchflow_core.rpc' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
