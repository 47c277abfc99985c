"""The orchestrator's JSON-RPC API: one table from method name to handler.

Every method takes named parameters (a JSON object; an empty array counts as none) and
checks them here: a missing, mistyped or unknown parameter is -32602 with a message and
``data.param`` naming it. Handlers raise the ``OrchflowError`` hierarchy; the dispatcher
maps it to the wire. ``build_lookup`` wraps each handler to count it in the metrics
(unknown names are answered -32601 and counted as ``unknown``).

The table (params; ``?`` = optional) — the result of each is documented on its handler:

    system.health {}  system.ping {}  system.version {}  system.features {}  system.shutdown {}
    session.create {name, cwd?}  session.list {}  session.save {name, as?}
    session.restore {name, session?}  session.saved {}
    agent.create {type, name?, command?, cwd?, session?, worktree?}  agent.list {}
    agent.get {id}  agent.send {id, text, enter?}  agent.output {id, lines?}
    agent.stop {id, remove_worktree?, force?}  agent.worktrees {cwd?}  agent.cleanup {cwd?, force?}
    (type "ai": agent, transport?, prompt? on agent.create; agent.prompt/cancel/answer/turns/
    updates/watch/unwatch/registry in orchestrator/api/ai_agents.py)
    stream.subscribe {id}  stream.unsubscribe {id}
    memory.store {key, value, namespace?, metadata?, ttl?}  memory.get {key, namespace?}
    memory.search {query, namespace?, limit?}  memory.list {namespace?, prefix?, limit?}
    memory.delete {key, namespace?}
    lock.* and schedule.*: orchestrator/api/coordination.py (registered at the end)
    swarm.*: orchestrator/api/swarm.py (registered at the end)
    review.open/accept/reject/comment/send/finish {agent, ...}: orchestrator/api/review.py
    ai.complete {prompt, mode?, provider?, stream?, system?}  ai.cancel {request_id}
    ai.providers {}   (model providers: orchestrator/api/ai_providers.py)
    mcp.list_servers {}  mcp.list_tools {server, refresh?}  mcp.call {server, tool, arguments?}
    mcp.restart {server}   (orchestrator/api/mcp_client.py: orchflow as an MCP client)
    protocol.check {command, origin?, pane_type?, mode?}  protocol.add {pattern, kind?, action,
    message, scope?, id?}  protocol.list {}  protocol.remove {id}   (orchflow_core's, shared)
    pane.output {pane, lines?}  (and core's pane.new/list/send/run/close, search.*, files.*,
    history.*, run.* with the parameters in CORE_PARAMS)
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orchestrator.metrics import UNKNOWN_METHOD
from orchflow_core import __version__
from orchflow_core.api import param
from orchflow_core.errors import InvalidArgumentError, OrchflowError
from orchflow_core.rpc.protocol import Handler, MethodNotFoundError, Params, error_from_wire
from orchflow_core.rpc.server import ConnectionContext

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator

log = logging.getLogger(__name__)

API_VERSION = 1
DEFAULT_OUTPUT_LINES = 100
Args = dict[str, Any]
Method = Callable[["Orchestrator", Args, ConnectionContext], Awaitable[Any]]

_TABLE: dict[str, tuple[Method, frozenset[str]]] = {}


def method(name: str, *params: str) -> Callable[[Method], Method]:
    """Register ``fn`` as ``name`` accepting exactly the named ``params``."""

    def register(fn: Method) -> Method:
        if name in _TABLE:
            raise ValueError(f"method {name!r} registered twice")
        _TABLE[name] = (fn, frozenset(params))
        return fn

    return register


@functools.cache
def names() -> tuple[str, ...]:
    """Every method this server answers (computed once: the tables do not change)."""
    from orchflow_core.api import METHODS
    from orchflow_core.registry import load_methods

    load_methods()
    core = [n for n in METHODS.names() if _served_core(n)]
    return tuple(sorted([*_TABLE, *core]))


def _named(params: Params, allowed: frozenset[str]) -> Args:
    if isinstance(params, list):
        if params:
            raise InvalidArgumentError(
                "params must be an object of named parameters, not an array", param="params"
            )
        return {}
    unknown = sorted(set(params) - allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise InvalidArgumentError(
            f"unknown parameter {unknown[0]!r} (expected: {expected})", param=unknown[0]
        )
    return params


def build_lookup(app: Orchestrator) -> Callable[[str], Handler | None]:
    """``lookup(name)`` for RpcServer: instrumented handlers bound to ``app``."""
    metrics = app.metrics
    clock = time.perf_counter

    def bind(name: str, fn: Method, allowed: frozenset[str]) -> Handler:
        async def handler(params: Params, ctx: Any) -> Any:
            start = clock()
            try:
                result = await fn(app, _named(params, allowed), ctx)
            except OrchflowError as exc:
                metrics.observe(name, str(exc.code), clock() - start)
                raise
            except BaseException:
                metrics.observe(name, "-32603", clock() - start)
                raise
            metrics.observe(name, "ok", clock() - start)
            return result

        return handler

    handlers = {name: bind(name, fn, allowed) for name, (fn, allowed) in _TABLE.items()}
    core_lookup = _core_handlers(app, metrics, clock)

    def lookup(name: str) -> Handler | None:
        found = handlers.get(name) or core_lookup(name)
        if found is not None:
            return found

        async def not_found(params: Params, ctx: Any) -> Any:
            metrics.observe(UNKNOWN_METHOD, str(MethodNotFoundError.code), 0.0)
            raise MethodNotFoundError(f"Method not found: {name[:200]!r}", method=name[:200])

        return not_found

    return lookup


CORE_PREFIXES = (
    "search.",
    "files.",
    "history.",
    "run.",
    "git.",
    "protocol.",
    "pane.",
    "template.",
    "test.",
    "ai.route",
    "ai.feedback",
    "mode.",
    "module.",
)
# Of core's pane.* methods the orchestrator serves only these (watch, focus and attach are
# the editor's); pane.output is the orchestrator's own (below).
_CORE_PANE_METHODS = frozenset({"pane.new", "pane.list", "pane.send", "pane.run", "pane.close"})


def _served_core(name: str) -> bool:
    return (
        name.startswith(CORE_PREFIXES)
        and (not name.startswith("pane.") or name in _CORE_PANE_METHODS)
        # test.*: the test runner's methods, not others that share the prefix (test hooks)
        and (not name.startswith("test.") or name in CORE_PARAMS)
    )


# The parameters each workspace method of orchflow_core accepts (its handler reads them with
# ``param``; tests/orchestrator/test_workspace_rpc.py checks this table against the handlers).
# Anything else is -32602 naming it, as for the orchestrator's own methods.
_SEARCH_OPTIONS = (
    "case",
    "whole_word",
    "literal",
    "include",
    "exclude",
    "hidden",
    "follow",
    "max_results",
    "context",
)
CORE_PARAMS: dict[str, frozenset[str]] = {
    name: frozenset(params)
    for name, params in {
        "search.project": ("pattern", "search_id", *_SEARCH_OPTIONS),
        "search.cancel": ("search_id",),
        "search.replace_preview": ("pattern", "replacement", *_SEARCH_OPTIONS),
        "files.list": ("hidden", "include", "exclude", "refresh", "query", "limit"),
        "files.record_open": ("path",),
        "files.create": ("path", "kind", "content"),
        "files.rename": ("path", "name"),
        "files.move": ("path", "to"),
        "files.copy": ("path", "to"),
        "files.delete": ("path",),
        "files.restore": ("id",),
        "files.trash": ("all",),
        "history.add": ("command", "cwd", "pane_type", "exit_code", "duration_s", "ts"),
        "history.search": ("query", "limit", "cwd"),
        "history.top": ("n", "cwd"),
        "history.suggest": ("prefix", "limit", "cwd"),
        "history.import": ("path", "format"),
        "history.export": ("path", "overwrite"),
        "history.prune": ("older_than_days",),
        "run.list": ("pane", "limit"),
        "run.get": ("id",),
        "run.wait": ("id", "timeout_s"),
        "run.cancel": ("id", "timeout_s"),
        # git.* (orchflow_core/git/methods.py): cwd is a directory inside the repository
        "git.status": ("cwd",),
        "git.diff": ("cwd", "path", "staged"),
        "git.stage": ("cwd", "paths", "hunks"),
        "git.unstage": ("cwd", "paths", "hunks"),
        "git.commit": ("cwd", "message", "hooks"),
        "git.branches": ("cwd",),
        "git.worktrees": ("cwd",),
        "git.log": ("cwd", "n"),
        # rules (orchflow_core/protocol/methods.py)
        "protocol.check": ("command", "origin", "source", "pane_type", "agent_type", "mode"),
        "protocol.add": ("pattern", "kind", "action", "message", "scope", "id"),
        "protocol.list": (),
        "protocol.remove": ("id",),
        # confirm: read by the handlers, but an RPC client is origin "mcp", which a confirm
        # rule refuses whatever token it brings
        "pane.new": ("type", "cmd", "name", "cwd", "session", "split", "env", "confirm"),
        "pane.list": ("session",),
        "pane.send": ("pane", "text", "enter", "confirm"),
        "pane.run": ("pane", "cmd", "confirm"),
        "pane.close": ("pane",),
        # session templates (orchflow_core/templates/methods.py)
        "template.list": (),
        "template.apply": ("name", "path", "kind", "session"),
        "template.save": ("session", "name", "force"),
        "template.freeze": ("session", "path", "force"),
        "template.import": ("path", "kind", "name", "force"),
        "template.snapshot": (),
        "template.snapshots": ("session", "limit"),
        "template.restore": ("snapshot", "session"),
        # the router (orchflow_core/router/methods.py)
        "ai.route": ("input", "context"),
        "ai.feedback": ("input", "context", "verdict", "agent_type", "command"),
        # the test runner (orchflow_core/testing/methods.py)
        "test.detect": ("cwd",),
        "test.run": ("cwd", "framework", "root", "filter", "file", "line", "ids"),
        "test.results": ("run_id", "wait_s"),
        "test.cancel": ("run_id",),
        "test.last": (),
        # SPARC modes (orchflow_core/modes/methods.py)
        "mode.list": ("cwd",),
        "mode.activate": ("name", "cwd"),
        "mode.current": ("cwd",),
        "mode.deactivate": ("cwd",),
        "module.list": ("reload",),
        "module.info": ("name",),
        "module.enable": ("name",),
        "module.disable": ("name",),
        "module.trust": ("cwd",),
        "module.untrust": ("cwd",),
        "module.command": ("name", "args"),
    }.items()
}


def _core_handlers(
    app: Orchestrator, metrics: Any, clock: Callable[[], float]
) -> Callable[[str], Handler | None]:
    """The workspace tools of orchflow_core (search.*, files.*, history.*, run.*, git.*),
    served as they are,
    with their parameters checked against ``CORE_PARAMS`` first (a method missing from the
    table takes none).

    Their modules load on the first call of each prefix (ripgrep runner, rapidfuzz and the
    history store are not needed to become ready). ``search.project`` streams its batches
    as ``search.results`` notifications to the connection that started the search.
    """
    from orchflow_core.api import METHODS, dispatch
    from orchflow_core.registry import LAZY_PREFIXES, builtin_modules

    lazy = {**LAZY_PREFIXES, **builtin_modules()}  # test.*, template.*: built-in modules
    for prefix in CORE_PREFIXES:
        METHODS.lazy(prefix, lazy[prefix])
    searches: dict[str, Any] = {}  # search_id -> the connection that asked

    def forward(event: Any) -> None:
        ctx = searches.get(str(event.data.get("search_id")))
        if ctx is not None:
            ctx.push("search.results", event.data)
            if event.data.get("done"):
                searches.pop(str(event.data.get("search_id")), None)

    app.core.events.subscribe(forward, kinds={"search.results"})

    async def handler(name: str, params: Params, ctx: Any) -> Any:
        start = clock()
        args = dict(_named(params, CORE_PARAMS.get(name, frozenset())))
        if name == "search.project":
            args.setdefault("search_id", f"rpc-{id(ctx)}-{time.monotonic_ns()}")
            searches.setdefault(str(args["search_id"]), ctx)  # another's stays theirs
        await app.core.start()  # the state DB and history (idempotent)
        if name.startswith("search."):
            from orchflow_core.search.methods import CALLER

            CALLER.set(ctx)  # this request's task only: a search belongs to its connection
        if name.startswith("pane."):
            from orchflow_core.terminal.methods import ORIGIN

            # Rules: a pane command over JSON-RPC (the MCP tools, any script) comes from a
            # program nobody can ask: origin "mcp", so a confirm rule refuses it.
            ORIGIN.set("mcp")
        ok, result = await dispatch(app.core, name, args)
        if ok and name == "ai.route":  # the model tier, when configured and the rest unsure
            from orchestrator import router_model

            result = await router_model.route(app, str(args["input"]), result["project"], result)
        metrics.observe(name, "ok" if ok else str(result["code"]), clock() - start)
        if not ok:
            raise error_from_wire(result)
        return result

    def lookup(name: str) -> Handler | None:
        """A handler for a core method name (loading its module); None for unknown names."""
        if not _served_core(name):
            return None
        try:
            METHODS.get(name)
        except MethodNotFoundError:
            return None
        except OrchflowError:
            pass  # its module failed to import: the handler reports that, on every call
        return functools.partial(handler, name)

    return lookup


def _text(args: Args, name: str, default: Any = ...) -> Any:
    if default is ...:
        return param(args, name, str)
    return param(args, name, str, default)


def _int(args: Args, name: str, default: int, *, low: int = 1, high: int = 10_000) -> int:
    value: int = param(args, name, int, default)
    if not low <= value <= high:
        raise InvalidArgumentError(
            f"parameter {name!r} must be between {low} and {high}, got {value}", param=name
        )
    return value


# -- system ------------------------------------------------------------------------------


@method("system.health")
async def system_health(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{status: "ok"|"degraded"|"stopping", problems: [str], version, pid, mode, uptime_s,
    connections, agents, memory_entries: int|null, tmux: "ready"|"starting"|<why not>}"""
    return await app.health()


@method("system.version")
async def system_version(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{version, api, protocol: "jsonrpc-2.0", methods: [names]}"""
    return {
        "version": __version__,
        "api": API_VERSION,
        "protocol": "jsonrpc-2.0",
        "methods": list(names()),
    }


@method("system.ping")
async def system_ping(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{pong: true}: the cheapest round trip, for liveness checks."""
    return {"pong": True}


@method("system.features")
async def system_features(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{features: {name: {status: "implemented"|"disabled"|"unavailable", reason, ...}}}"""
    await app.settled()
    try:  # the rules' row lists the problems of the rule files as they are now
        await app.core.start()
        await app.core.rules.ruleset()
    except OrchflowError as exc:
        log.warning("system.features: cannot read the rules: %s", exc.message)
    return {"features": app.features()}


@method("system.shutdown")
async def system_shutdown(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{stopping: true}; the server then shuts down gracefully (this answer is sent first)."""
    app.request_stop(f"system.shutdown from connection {ctx.id}")
    return {"stopping": True, "pid": os.getpid()}


# -- sessions ----------------------------------------------------------------------------


@method("session.create", "name", "cwd")
async def session_create(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{name, id}; ConflictError if it exists. ``cwd`` defaults to the project root (the
    process itself runs elsewhere: a sidecar in the runtime dir)."""
    tm = await app.terminals()
    cwd = _text(args, "cwd", None) or str(app.options.project_root)
    return await tm.new_session(_text(args, "name"), cwd=cwd)


@method("session.list")
async def session_list(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[{name, id, current, panes: [pane]}]"""
    return await (await app.terminals()).sessions()


@method("session.save", "name", "as")
async def session_save(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{name, session, saved_at, panes: [{type, name, cwd, command, last_command, agent_type}]}"""
    saved, tm = await app.saved_sessions(), await app.terminals()
    return await saved.save(tm, _text(args, "name"), as_name=_text(args, "as", None))


@method("session.saved")
async def session_saved(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[{name, saved_at, panes}] (snapshots made by session.save)."""
    return await (await app.saved_sessions()).list()


@method("session.restore", "name", "session")
async def session_restore(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{name, session, panes: [pane or agent + {agent, last_command}]}; ConflictError if the
    target session or a pane name exists; NotFoundError if nothing was saved as ``name``."""
    saved, agents = await app.saved_sessions(), await app.agent_manager()
    tm = await app.terminals()
    await agents.start()
    return await saved.restore(
        tm, agents, _text(args, "name"), session=_text(args, "session", None)
    )


# -- agents ------------------------------------------------------------------------------


@method(
    "agent.create",
    "type",
    "name",
    "command",
    "cwd",
    "session",
    "worktree",
    "agent",
    "transport",
    "prompt",
    "locks",
)
async def agent_create(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """agent: {id, type, name, command, source, cwd, session, pane_id, state: the pane's
    ("idle"|"running"|"exited"|"closed"), activity: "active"|"quiet"|null, exit_code,
    created_at, last_output_at, owner, locks}. ``type: "ai"`` with ``agent`` (a registry
    name), ``transport?`` and ``prompt?``: an AI agent (orchestrator/agents/ai.py).
    ``locks?: [{resource, mode}]`` are taken first (orchestrator/agents/leases.py)."""
    from orchestrator.agents.leases import leases_of, parse

    declared = parse(args.get("locks"))
    leases = leases_of(app)
    owner = await leases.take(declared)
    try:
        agent = await _create_agent(app, args)
    except BaseException:
        leases.drop(owner)
        raise
    await leases.bind(owner, agent)
    app.editor_fs.created_by(str(agent["id"]), ctx)  # its fs/* ask this editor first
    return agent


async def _create_agent(app: Orchestrator, args: Args) -> Any:
    kind = _text(args, "type")
    if kind == "ai":
        if "command" in args:
            raise InvalidArgumentError(
                "an ai agent's command comes from the registry ([agents.<name>] in "
                "config.toml), not from 'command'",
                param="command",
            )
        return await (await app.ai_agent_manager()).create(
            _text(args, "agent"),
            transport=_text(args, "transport", None),
            name=_text(args, "name", None),
            cwd=_text(args, "cwd", None),
            session=_text(args, "session", None),
            prompt=_text(args, "prompt", None),
            worktree=args.get("worktree"),  # absent: on in a git repository ([worktree] ai)
        )
    from orchflow_core.project.detect import AGENT_TYPES

    if kind not in AGENT_TYPES:
        raise InvalidArgumentError(
            f"type must be one of {', '.join(AGENT_TYPES)}, ai; got {kind!r}", param="type"
        )
    for only_ai in ("agent", "transport", "prompt"):
        if only_ai in args:
            raise InvalidArgumentError(
                f"parameter {only_ai!r} is for type 'ai' agents only", param=only_ai
            )
    return await (await app.agent_manager()).create(
        kind,
        name=_text(args, "name", None),
        command=_text(args, "command", None),
        cwd=_text(args, "cwd", None),
        session=_text(args, "session", None),
        worktree=args.get("worktree"),
    )


@method("agent.list")
async def agent_list(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[agent]: pane agents, then ACP agents (``type: "ai"``, ``transport: "acp"``). An
    agent with a worktree has ``overlaps``: [{path, agents}] its changes share with others'."""
    from orchestrator.agents.leases import leases_of

    panes = await (await app.agent_manager()).list()
    views = [*panes, *(await app.ai_agent_manager()).views()]
    leases = leases_of(app)
    for view in views:
        view["locks"] = leases.of(str(view["id"]))
    return await _review.review_of(app).annotate(views)


@method("agent.get", "id")
async def agent_get(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """agent (``id`` may be the agent's id or its name), with the ``locks`` it holds"""
    from orchestrator.agents.leases import leases_of

    ref = _text(args, "id")
    acp_agent = (await app.ai_agent_manager()).find(ref)
    view = acp_agent.view() if acp_agent is not None else None
    if view is None:
        view = await (await app.agent_manager()).get(ref)
    view["locks"] = leases_of(app).of(str(view["id"]))
    return view


@method("agent.send", "id", "text", "enter")
async def agent_send(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, sent: chars, enter}; ``enter`` (default true) presses Enter after the text."""
    return await (await app.agent_manager()).send(
        _text(args, "id"), _text(args, "text"), enter=param(args, "enter", bool, True)
    )


@method("agent.output", "id", "lines")
async def agent_output(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, state, lines, text}: the last ``lines`` (default 100) lines of the pane; for an
    ACP agent, of its transcript (the session/update stream as text), with ``seq``."""
    ref, lines = _text(args, "id"), _int(args, "lines", DEFAULT_OUTPUT_LINES)
    acp_agent = (await app.ai_agent_manager()).find(ref)
    if acp_agent is not None:
        text = "\n".join(acp_agent.output().split("\n")[-lines:])
        count = len(text.split("\n")) if text else 0
        return {
            "id": acp_agent.id,
            "state": acp_agent.state.value,
            "lines": count,
            "text": text,
            "seq": acp_agent.last_seq,  # the last update in it (agent.update's seq)
        }
    return await (await app.agent_manager()).output(ref, lines=lines)


@method("agent.stop", "id", "remove_worktree", "force")
async def agent_stop(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """agent + {stopped: true}: its pane is closed (state "closed"); with remove_worktree
    its worktree too (worktree + {removed, branch_deleted, branch_kept?, teardown?}). An ACP
    agent's process ends (state "exited") and its open questions are answered "cancelled"."""
    from orchestrator.agents.leases import leases_of

    ref = _text(args, "id")
    ai = await app.ai_agent_manager()
    if ai.find(ref) is not None:
        stopped = await ai.stop(
            ref,
            remove_worktree=param(args, "remove_worktree", bool, False),
            force=param(args, "force", bool, False),
        )
    else:
        stopped = await (await app.agent_manager()).stop(
            ref,
            remove_worktree=param(args, "remove_worktree", bool, False),
            force=param(args, "force", bool, False),
        )
    stopped["locks_released"] = leases_of(app).release(str(stopped["id"]))
    return stopped


@method("agent.worktrees", "cwd")
async def agent_worktrees(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[git worktree row + {root, agent, orphan}]: the worktrees orchflow made for the
    repository around ``cwd`` (default: the project root)."""
    return await (await app.agent_manager()).list_worktrees(_text(args, "cwd", None))


@method("agent.cleanup", "cwd", "force")
async def agent_cleanup(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{removed: [{path, branch, removed, branch_deleted, ...}], kept: [{path, why}]}: the
    orphan worktrees (no agent in them) removed; a dirty one is kept unless ``force``."""
    return await (await app.agent_manager()).cleanup_worktrees(
        _text(args, "cwd", None), force=param(args, "force", bool, False)
    )


@method("pane.output", "pane", "lines")
async def pane_output(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{pane, pane_id, state, lines, text}: the last ``lines`` (default 100) lines of any
    orchflow pane (screen and scrollback)."""
    tm = await app.terminals()
    ref = _text(args, "pane")
    text = await tm.capture(ref, lines=_int(args, "lines", DEFAULT_OUTPUT_LINES))
    rec = tm.resolve(ref)
    return {
        "pane": rec.orchflow_id,
        "pane_id": rec.pane_id,
        "state": rec.state.value,
        "lines": len(text.split("\n")) if text else 0,
        "text": text,
    }


# -- streams -----------------------------------------------------------------------------


@method("stream.subscribe", "id")
async def stream_subscribe(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, kind: "agent"|"pane", pane_id, already}; then ``stream.output`` notifications."""
    return await (await app.stream_hub()).subscribe(ctx, _text(args, "id"))


@method("stream.unsubscribe", "id")
async def stream_unsubscribe(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{id, unsubscribed: bool}"""
    return await (await app.stream_hub()).unsubscribe(ctx, _text(args, "id"))


# -- memory ------------------------------------------------------------------------------


def _namespace(args: Args) -> str:
    return str(param(args, "namespace", str, "default"))


@method("memory.store", "key", "value", "namespace", "metadata", "ttl")
async def memory_store(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """entry: {namespace, key, value, metadata, created_at, updated_at, expires_at}.
    ``ttl`` seconds (> 0) makes it expire; ``value`` is any JSON value."""
    if "value" not in args:
        raise InvalidArgumentError("missing parameter 'value'", param="value")
    ttl: float | None = param(args, "ttl", (int, float), None)
    if ttl is not None and not 0 < ttl < float("inf"):
        raise InvalidArgumentError(
            f"ttl must be a positive number of seconds, got {ttl!r}", param="ttl"
        )
    return await (await app.memory_store()).store(
        _text(args, "key"),
        args["value"],
        namespace=_namespace(args),
        metadata=param(args, "metadata", dict, None),
        ttl_s=ttl,
    )


@method("memory.get", "key", "namespace")
async def memory_get(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """entry; NotFoundError if absent or expired."""
    return await (await app.memory_store()).get(_text(args, "key"), namespace=_namespace(args))


@method("memory.search", "query", "namespace", "limit")
async def memory_search(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[entry + {score, matcher: "fts"|"fuzzy"}], best first (namespace: all if omitted)."""
    return await (await app.memory_store()).search(
        _text(args, "query"),
        namespace=_text(args, "namespace", None),
        limit=_int(args, "limit", 20),
    )


@method("memory.list", "namespace", "prefix", "limit")
async def memory_list(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[entry] ordered by (namespace, key)."""
    return await (await app.memory_store()).list(
        namespace=_text(args, "namespace", None),
        prefix=_text(args, "prefix", None),
        limit=_int(args, "limit", 100),
    )


@method("memory.delete", "key", "namespace")
async def memory_delete(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{key, namespace, deleted: bool} (false: there was no live entry)."""
    key, namespace = _text(args, "key"), _namespace(args)
    deleted = await (await app.memory_store()).delete(key, namespace=namespace)
    return {"key": key, "namespace": namespace, "deleted": deleted}


# -- domains in orchestrator/api/ (their @method registrations run on import) ---------------
from orchestrator.api import ai_agents as _ai_agents  # noqa: E402, F401
from orchestrator.api import ai_providers as _ai_providers  # noqa: E402, F401
from orchestrator.api import coordination as _coordination  # noqa: E402, F401
from orchestrator.api import editor as _editor  # noqa: E402, F401
from orchestrator.api import mcp_client as _mcp_client  # noqa: E402, F401
from orchestrator.api import review as _review  # noqa: E402
from orchestrator.api import swarm as _swarm  # noqa: E402, F401
