"""``ai.complete``, ``ai.cancel`` and ``ai.providers``: completions through the configured
model providers (orchestrator/providers/).

    ai.complete {prompt, mode?, provider?, stream?, system?}
        -> {text, provider, model, usage, finish_reason, attempts, duration_s}
        with stream: true -> {request_id, provider, model} at once; then ai.delta
        {request_id, text} notifications and one ai.done {request_id, text, provider,
        model, usage, finish_reason, attempts, duration_s, cancelled} or ai.error
        {request_id, provider, text, error: {code, message, data?}}
    ai.cancel {request_id}   -> {request_id, cancelled: bool}
    ai.providers {}          -> {providers: [...], default, error}

``mode`` names a SPARC mode (orchflow_core/modes/) whose preamble goes before ``system``;
without it, the mode active in the orchestrator's project does.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from orchestrator.methods import Args, _text, method
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


@method("ai.complete", "prompt", "mode", "provider", "stream", "system")
async def ai_complete(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """See the module docstring."""
    prompt = _text(args, "prompt")
    provider = _text(args, "provider", None)
    system = _text(args, "system", None)
    stream = param(args, "stream", bool, False)
    preamble = await _preamble(app, _text(args, "mode", None))
    manager = app.provider_manager()
    chosen = manager.resolve(prompt, provider)  # errors now, not in a notification

    def run(on_delta: Any) -> Awaitable[Any]:
        return manager.complete(
            prompt, system=system, preamble=preamble, provider=chosen.name, on_delta=on_delta
        )

    if not stream:
        return (await run(None)).to_dict()
    streams = app.ai_streams
    if _CLEANUP_KEY not in ctx.data:
        ctx.data[_CLEANUP_KEY] = True
        ctx.add_cleanup(lambda: streams.cancel_for(ctx))
    request_id = streams.start(ctx, run, provider=chosen.name, model=chosen.model)
    return {"request_id": request_id, "provider": chosen.name, "model": chosen.model}


@method("ai.cancel", "request_id")
async def ai_cancel(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{request_id, cancelled}: false when no streamed completion runs under that id
    (it ended already); the stream ends with ai.done {cancelled: true}."""
    request_id = _text(args, "request_id")
    return {"request_id": request_id, "cancelled": app.ai_streams.cancel(request_id)}


@method("ai.providers")
async def ai_providers(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{providers: [{name, kind, model, base_url|command|agent, api_key_env, api_key_set,
    default, status: "configured"|"unavailable", unavailable, breaker: {state, failures,
    retry_in_s, last_failure, opens}}], default, error}. Keys never appear: only the
    names of their variables."""
    manager = app.provider_manager()
    return {
        "providers": manager.views() if manager.error is None else [],
        "default": manager.default,
        "error": manager.error,
    }
