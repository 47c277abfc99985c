"""``agent.*`` methods of AI agents (ACP): prompt, cancel, answer, turns, watch, registry.

Registered into ``orchestrator.methods``' one table (imported there). ``agent.create``,
``agent.list``, ``agent.get``, ``agent.output`` and ``agent.stop`` stay in methods.py and
route ``type: "ai"`` agents here through ``AiAgents``.

    agent.prompt {id, text}            -> {id, turn_id, transport, mode}
    agent.cancel {id}                  -> {id, turn_id, cancelled}
    agent.answer {id, request_id, option_id} -> {id, request_id, option_id, answered}
    agent.turns {id}                   -> [turn]
    agent.updates {id, after?, limit?} -> {id, updates: [update], next}
    agent.watch {} / agent.unwatch {}  -> {watching}; then agent.* notifications
    agent.registry {}                  -> [registry entry + installed]
    agent.hook {agent, event, payload?} -> {id, name, event, mapped, changed, state}
    agent.restart {id, resume?}        -> {id, name, resumed, how}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.agents.ai import WATCH_TOPIC
from orchestrator.methods import Args, _int, _text, method
from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.rpc.server import ConnectionContext

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator


@method("agent.prompt", "id", "text")
async def agent_prompt(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, turn_id, transport}: at once; the turn runs in the background (agent.turns,
    ``agent.turn`` notifications). A terminal-transport agent gets the text typed and
    submitted (turn_id null: its turns are not known)."""
    ref, text = _text(args, "id"), _text(args, "text")
    if not text.strip():
        raise InvalidArgumentError("text is empty", param="text")
    from orchflow_core.modes.methods import with_preamble

    ai = await app.ai_agent_manager()
    agent = ai.find(ref)
    if agent is None:
        panes = await app.agent_manager()
        mode = None
        if (await panes.get(ref))["type"] == "ai":  # an AI CLI's TUI: the mode's preamble
            text, mode = await with_preamble(app.core, text, one_line=True)
        sent = await panes.send(ref, text, enter=True)
        return {"id": sent["id"], "turn_id": None, "transport": "terminal", "mode": mode}
    text, mode = await with_preamble(app.core, text)
    return {"id": agent.id, "turn_id": agent.prompt(text).turn_id, "transport": "acp", "mode": mode}


@method("agent.cancel", "id")
async def agent_cancel(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, turn_id, cancelled}: session/cancel for the running turn; its open questions
    are answered "cancelled"."""
    return await (await app.ai_agent_manager()).get(_text(args, "id")).cancel()


@method("agent.answer", "id", "request_id", "option_id")
async def agent_answer(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, request_id, option_id, answered: true}; -32002 no such open question,
    -32602 an option the question does not offer, -32006 the agent has ended."""
    agent = (await app.ai_agent_manager()).get(_text(args, "id"))
    return agent.answer(_text(args, "request_id"), _text(args, "option_id"))


@method("agent.turns", "id")
async def agent_turns(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[{turn_id, text, state, queued_at, started_at, ended_at, stop_reason, usage, error}]"""
    return [t.to_dict() for t in (await app.ai_agent_manager()).get(_text(args, "id")).turns]


@method("agent.updates", "id", "after", "limit")
async def agent_updates(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, updates: [{seq, at, turn_id, kind, text, data}], next}: the recorded
    session/update stream after ``after`` (a seq; default 0), oldest first."""
    agent = (await app.ai_agent_manager()).get(_text(args, "id"))
    after = _int(args, "after", 0, low=0, high=2**53)
    limit = _int(args, "limit", 500, high=10_000)
    items = [u for u in agent.updates if u["seq"] > after][:limit]
    return {"id": agent.id, "updates": items, "next": items[-1]["seq"] if items else after}


@method("agent.watch")
async def agent_watch(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{watching: true, agents: [ACP agent]}; this connection then receives agent.state,
    agent.update, agent.turn, agent.permission and agent.permission_closed."""
    ai = await app.ai_agent_manager()
    ctx.subscribe(WATCH_TOPIC)
    return {"watching": True, "agents": ai.views()}


@method("agent.unwatch")
async def agent_unwatch(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{watching: false}"""
    ctx.unsubscribe(WATCH_TOPIC)
    return {"watching": False}


@method("agent.registry")
async def agent_registry(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[{name, label, command, acp, resume, continue, submit_key, file_ref, hooks,
    transport, transports, source, installed: {transport: path|null}}]"""
    return [spec.to_dict() for spec in (await app.ai_agent_manager()).registry().values()]


@method("agent.hook", "agent", "event", "payload")
async def agent_hook(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, name, event, mapped, changed, state}: a vendor hook of a terminal AI agent
    (``orchflow-orchestrator hook`` sends it). ``agent`` is its hook id (also its id or
    name); ``event`` the vendor's event name; ``payload`` the hook's JSON object. The
    registry's ``hooks.events`` maps ``event`` or ``event:<notification_type|type>`` to
    working / needs_input / idle (source "hook"); an unmapped event changes nothing
    (``mapped: null``). -32002 no such agent, -32602 a bad parameter."""
    ref, event = _text(args, "agent"), _text(args, "event")
    if not event.strip() or len(event) > 200:
        raise InvalidArgumentError(
            f"event must be a vendor event name (1-200 characters), got {event[:60]!r}",
            param="event",
        )
    payload = args.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidArgumentError(
            f"payload must be the hook's JSON object, got {type(payload).__name__}",
            param="payload",
        )
    return (await app.ai_agent_manager()).hook(ref, event, payload)


@method("agent.restart", "id", "resume")
async def agent_restart(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, name, resumed, how}: the AI agent ``id`` (id or name) starts again under the
    same id and name; a running one is stopped first. ACP: ``session/load`` of its session
    where its ``initialize`` offers ``loadSession`` and ``resume`` (default true), the
    conversation replayed into its transcript (``how: "session/load"``), else a new session
    (``how: "fresh: <why>"``). Terminal: its TUI again with the registry's resume flags and
    the vendor session id its hooks gave, else its continue flags, else fresh (``how:
    "flags: <command>"`` or ``"fresh: <why>"``). -32002 no such AI agent; an ACP agent that
    fails to come back is an error naming why (agent.get shows it)."""
    from orchflow_core.api import param

    resume = param(args, "resume", bool, True)
    return await (await app.ai_agent_manager()).restart(_text(args, "id"), resume=resume)


def ai_or_none(ai: Any, ref: str) -> Any:
    """The ACP agent ``ref`` or None (pane agents are the other manager's)."""
    try:
        return ai.get(ref)
    except NotFoundError:
        return None
