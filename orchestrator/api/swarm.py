"""JSON-RPC methods of swarms: ``swarm.*``.

    swarm.submit {name?, tasks: [{id, command | prompt, agent_type?, agent?, cwd?, deps?,
                  timeout_s?, retries?, locks?: [{resource, mode}], host?}],
                  strategy?, max_parallel?, inputs?}                       -> {swarm_id, ...}
    swarm.status {swarm_id}  swarm.list {limit?}  swarm.cancel {swarm_id}
    swarm.watch {}  swarm.unwatch {}   (swarm.progress notifications)

Registered into orchestrator/methods.py's table when that module loads; the semantics
live in orchestrator/swarm/.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from orchestrator.agents import _check_cwd
from orchestrator.methods import Args, _int, _text, method
from orchestrator.swarm.runner import TOPIC
from orchflow_core.rpc.server import ConnectionContext

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator


@method("swarm.submit", "name", "tasks", "strategy", "max_parallel", "inputs")
async def swarm_submit(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{swarm_id, name, tasks: n} once it is stored and started; -32602 naming the bad
    value (a dependency cycle, an unknown dep, a task without command or prompt, too many
    tasks, max_parallel out of 1..64) before anything starts."""
    swarms = await app.swarms()
    ai = await app.ai_agent_manager()
    resolve = functools.partial(_check_cwd, default=app.options.project_root)
    return await swarms.submit(
        dict(args), resolve_cwd=lambda cwd: resolve(cwd), agents=lambda: list(ai.registry())
    )


@method("swarm.status", "swarm_id")
async def swarm_status(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{swarm_id, name, strategy, max_parallel, state, reason, created_at, finished_at,
    tasks: [{id, state, host, exit_code, attempts, started_at, finished_at, output_tail,
    reason, command, prompt, agent, deps, retries, timeout_s, pane_id, output_path}]}"""
    return await (await app.swarms()).status(_text(args, "swarm_id"))


@method("swarm.list", "limit")
async def swarm_list(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[{swarm_id, name, strategy, max_parallel, state, reason, created_at, finished_at,
    tasks: {state: count}}], newest first (``limit`` default 50, 1..1000)."""
    return await (await app.swarms()).list(limit=_int(args, "limit", 50, high=1000))


@method("swarm.cancel", "swarm_id")
async def swarm_cancel(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """The status once everything it started was stopped (bounded: 10 s)."""
    return await (await app.swarms()).cancel(_text(args, "swarm_id"))


@method("swarm.watch")
async def swarm_watch(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{watching: true}; this connection then receives ``swarm.progress {swarm_id, state,
    task}`` on every task's move (``task`` null: the swarm itself ended)."""
    ctx.subscribe(TOPIC)
    return {"watching": True}


@method("swarm.unwatch")
async def swarm_unwatch(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{watching: false}"""
    ctx.unsubscribe(TOPIC)
    return {"watching": False}
