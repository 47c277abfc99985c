"""The public surface of orchflow_core.rpc, pinned."""

from __future__ import annotations

import subprocess
import sys

import orchflow_core.rpc as rpc


def test_export_list_is_pinned_and_resolvable() -> None:
    assert rpc.__all__ == [
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
    for name in rpc.__all__:
        assert getattr(rpc, name) is not None


def test_pure_core_does_not_load_the_transports() -> None:
    code = "import sys, orchflow_core.rpc; print('websockets' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "False"
