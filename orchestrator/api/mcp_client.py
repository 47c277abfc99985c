"""``mcp.*``: orchflow as an MCP client of the user's servers (orchestrator/mcp/client/).

    mcp.list_servers {}                     -> [server row]  (ours first, then config.toml's)
    mcp.list_tools {server, refresh?}       -> {server, tools: [MCP Tool as JSON]}
    mcp.call {server, tool, arguments?}     -> {server, tool, content, isError,
                                                structuredContent?}
    mcp.restart {server}                    -> {server, state, tool_count}

Registered into orchestrator/methods.py's table when that module loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.methods import Args, method
from orchflow_core.api import param
from orchflow_core.rpc.server import ConnectionContext

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator


@method("mcp.list_servers")
async def mcp_list_servers(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[{name, kind: "ours"|"user", state, transport, breaker, tools, tool_count, last_error,
    config (no secrets), protocol_version, server_info, starts}]. Starts nothing: tools are
    null until a server was asked."""
    return app.mcp_clients().list_servers()


@method("mcp.list_tools", "server", "refresh")
async def mcp_list_tools(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{server, tools}: the server's tools (started on demand; cached until it says they
    changed or ``refresh`` is true)."""
    refresh: bool = param(args, "refresh", bool, False)
    return await app.mcp_clients().list_tools(param(args, "server", str), refresh=refresh)


@method("mcp.call", "server", "tool", "arguments")
async def mcp_call(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{server, tool, content, isError, structuredContent?}: the tool's result as the server
    gave it (a tool's own failure is ``isError: true``, not a JSON-RPC error). Errors: an
    unknown server or tool (-32602/-32002), a server that cannot start, went away or
    returned a malformed result (-32003/-32004), no answer within its timeout_s (-32008),
    its breaker open (-32003), a command refused by a rule (-32007)."""
    return await app.mcp_clients().call(
        param(args, "server", str), param(args, "tool", str), args.get("arguments")
    )


@method("mcp.restart", "server")
async def mcp_restart(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{server, state, tool_count}: stop the server, start it again, ask its tools; its
    breaker is closed again."""
    return await app.mcp_clients().restart(param(args, "server", str))
