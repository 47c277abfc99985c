"""``ai.complete``, ``ai.cancel`` and ``ai.providers``: completions through the configured
model providers (orchestrator/providers/).

    ai.complete {prompt, mode?, provider?, stream?, system?, tools?}
        -> {text, provider, model, usage, finish_reason, attempts, duration_s, tools,
            tool_calls, tool_problems, rounds}
        with stream: true -> {request_id, provider, model, tools} at once; then ai.delta
        {request_id, text} and ai.tool {request_id, phase, round, id, name, server, tool,
        is_error?, text?, duration_s?} notifications and one ai.done {request_id, text,
        provider, model, usage, finish_reason, attempts, duration_s, tools, tool_calls,
        tool_problems, rounds, cancelled} or ai.error {request_id, provider, text, error:
        {code, message, data?}}
    ai.cancel {request_id}   -> {request_id, cancelled: bool}
    ai.providers {}          -> {providers: [...], default, error}

``mode`` names a SPARC mode (orchflow_core/modes/) whose preamble goes before ``system``;
without it, the mode active in the orchestrator's project does.

``tools``: true (every enabled ``[mcp.servers.*]``), false, or a list of MCP server names
(``"orchflow"``, orchflow's own server, only when named); not given: the provider's
``tools`` setting (default false). Only openai and anthropic providers take tools; for the
others ``tools`` in the answer is ``"unavailable: <provider> takes no tools (...)"``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from orchestrator.methods import Args, _text, method
from orchestrator.providers import mcp_tools
from orchflow_core.api import param
from orchflow_core.rpc.server import ConnectionContext

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator

_CLEANUP_KEY = "ai.streams.cleanup"


async def _preamble(app: Orchestrator, mode: str | None) -> str | None:
    from orchflow_core.modes import methods as modes

    if mode is None:
        return await modes.preamble_for(app.core)
    return await modes.named_preamble(app.core, mode)


def _tool_servers(app: Orchestrator, chosen: Any, wanted: Any) -> tuple[tuple[str, ...], str]:
    """(the MCP servers whose tools to offer, and the answer's ``tools`` when none are)."""
    selection = mcp_tools.selection(wanted)
    if selection is None:
        selection = app.provider_manager().configs[chosen.name].tools
    if selection is False or selection == ():
        return (), "off"
    if not chosen.supports_tools:
        return (), (
            f"unavailable: {chosen.name} takes no tools (a {chosen.kind} provider answers "
            "text only; tools need an openai or anthropic provider)"
        )
    clients = app.mcp_clients()
    if selection is True:
        servers = tuple(spec.name for spec in clients.enabled_specs())
        if not servers:
            return (), "unavailable: no MCP server is configured ([mcp.servers.<name>])"
        return servers, ""
    return tuple(clients.check(name) for name in selection), ""  # unknown: an error now


@method("ai.complete", "prompt", "mode", "provider", "stream", "system", "tools")
async def ai_complete(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """See the module docstring."""
    prompt = _text(args, "prompt")
    provider = _text(args, "provider", None)
    system = _text(args, "system", None)
    stream = param(args, "stream", bool, False)
    preamble = await _preamble(app, _text(args, "mode", None))
    manager = app.provider_manager()
    chosen = manager.resolve(prompt, provider)  # errors now, not in a notification
    servers, note = _tool_servers(app, chosen, args.get("tools"))

    def run(on_delta: Any, on_tool: Any) -> Awaitable[Any]:
        tools = mcp_tools.Toolset(app.mcp_clients(), servers, on_event=on_tool) if servers else None
        return manager.complete(
            prompt,
            system=system,
            preamble=preamble,
            provider=chosen.name,
            on_delta=on_delta,
            tools=tools,
            tools_note=note,
        )

    if not stream:
        return (await run(None, None)).to_dict()
    streams = app.ai_streams
    if _CLEANUP_KEY not in ctx.data:
        ctx.data[_CLEANUP_KEY] = True
        ctx.add_cleanup(lambda: streams.cancel_for(ctx))
    request_id = streams.start(ctx, run, provider=chosen.name, model=chosen.model)
    return {
        "request_id": request_id,
        "provider": chosen.name,
        "model": chosen.model,
        "tools": list(servers) if servers else note,
    }


@method("ai.cancel", "request_id")
async def ai_cancel(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{request_id, cancelled}: false when no streamed completion runs under that id
    (it ended already); the stream ends with ai.done {cancelled: true}."""
    request_id = _text(args, "request_id")
    return {"request_id": request_id, "cancelled": app.ai_streams.cancel(request_id)}


@method("ai.providers")
async def ai_providers(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{providers: [{name, kind, model, base_url|command|agent, api_key_env, api_key_set,
    supports_tools, tools?, max_tool_rounds?, default, status: "configured"|"unavailable",
    unavailable, breaker: {state, failures, retry_in_s, last_failure, opens}}], default,
    error}. Keys never appear: only the
    names of their variables."""
    manager = app.provider_manager()
    return {
        "providers": manager.views() if manager.error is None else [],
        "default": manager.default,
        "error": manager.error,
    }
