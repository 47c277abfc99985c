"""JSON-RPC methods of the coordination layer: ``lock.*`` and ``schedule.*``.

    lock.acquire {resource, mode, lease_s?, wait_s?}  lock.renew {lock_id, lease_s?}
    lock.release {lock_id}  lock.list {}
    schedule.add {name, cron, job: {command, cwd?, pane_type?} | {prompt, agent, cwd?} |
                  {swarm: {tasks, ...}, cwd?}, tz?, on_missed?, overlap?}
    schedule.list {}  schedule.remove {name}  schedule.run_now {name}
    schedule.history {name, limit?}

Registered into orchestrator/methods.py's table (its ``method`` decorator) when that
module loads; the semantics live in orchestrator/coordination/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.agents import _check_cwd
from orchestrator.coordination.locks import DEFAULT_LEASE_S, MAX_LEASE_S, MAX_WAIT_S, LockManager
from orchestrator.methods import Args, _int, _text, method
from orchflow_core.api import param
from orchflow_core.errors import InvalidArgumentError
from orchflow_core.rpc.server import ConnectionContext

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator

_OWNED = "orchestrator.locks.owner"
JOB_KEYS = frozenset({"command", "cwd", "pane_type", "prompt", "agent", "swarm"})


def _owner(app: Orchestrator, ctx: ConnectionContext) -> tuple[str, str]:
    """This connection as a lock owner; its locks go when it ends (registered once). MCP
    over Streamable HTTP is stateless (a context per call): its clients hold their locks
    together (``lock_owner``), until released or their lease ends."""
    shared = getattr(ctx, "lock_owner", None)
    if isinstance(shared, str):
        return shared, shared
    owner = f"conn-{ctx.id}"
    if not ctx.data.get(_OWNED):
        ctx.data[_OWNED] = True
        locks = app.locks
        ctx.add_cleanup(lambda: locks.release_owner(owner))
    return owner, f"connection {ctx.id}"


def _seconds(args: Args, name: str, default: float, high: float, *, low: float = 0.0) -> float:
    value: float = param(args, name, (int, float), default)
    return LockManager.check_seconds(name, value, low=low, high=high)


# -- locks -------------------------------------------------------------------------------


@method("lock.acquire", "resource", "mode", "lease_s", "wait_s")
async def lock_acquire(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{lock_id, resource, mode, owner, acquired_at, expires_at}. Taken: -32006 at once
    naming the holders (no ``wait_s``), -32008 after ``wait_s``; a wait that would
    deadlock: -32006 naming the cycle."""
    resource = LockManager.check_resource(_text(args, "resource"))
    mode = LockManager.check_mode(_text(args, "mode"))
    lease_s = _seconds(args, "lease_s", DEFAULT_LEASE_S, MAX_LEASE_S)
    wait_s = _seconds(args, "wait_s", 0.0, MAX_WAIT_S)
    owner, label = _owner(app, ctx)
    return await app.locks.acquire(owner, label, resource, mode, lease_s=lease_s, wait_s=wait_s)


@method("lock.renew", "lock_id", "lease_s")
async def lock_renew(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """the lock with a new ``expires_at`` (now + ``lease_s``, default: its lease)."""
    lease: float | None = param(args, "lease_s", (int, float), None)
    if lease is not None:
        lease = LockManager.check_seconds("lease_s", lease, low=0.0, high=MAX_LEASE_S)
    owner, _ = _owner(app, ctx)
    await app.locks.ready()
    renewed = app.locks.renew(owner, _text(args, "lock_id"), lease)
    await app.locks.durable(owner)  # once stored, if it outlives us (coordination/lock_journal.py)
    return renewed


@method("lock.release", "lock_id")
async def lock_release(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """the lock + {released: true}; -32002 unknown or expired; -32007 another's."""
    owner, _ = _owner(app, ctx)
    await app.locks.ready()
    released = app.locks.release(owner, _text(args, "lock_id"))
    await app.locks.durable(owner)
    return released


@method("lock.list")
async def lock_list(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{locks: [lock], waiting: [{resource, mode, owner, since}]}; a lock held since
    before the orchestrator restarted has ``restored: true``."""
    await app.locks.ready()
    return app.locks.list()


# -- schedules ---------------------------------------------------------------------------


@method("schedule.add", "name", "cron", "job", "tz", "on_missed", "overlap")
async def schedule_add(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """schedule: {name, cron, tz, job, on_missed, overlap, created_at, next_runs: [3 ISO
    times in tz], next_run_at, running, queued, last}"""
    from orchestrator.coordination.scheduler import Job

    scheduler = await app.schedules()
    job = param(args, "job", dict)
    unknown = sorted(set(job) - JOB_KEYS)
    if unknown:
        raise InvalidArgumentError(
            f"unknown job field {unknown[0]!r} (expected: {', '.join(sorted(JOB_KEYS))})",
            param=f"job.{unknown[0]}",
        )
    kinds = [k for k in ("command", "prompt", "swarm") if job.get(k) is not None]
    if len(kinds) != 1:
        raise InvalidArgumentError(
            "job needs exactly one of command (a shell command line), prompt (with agent) or"
            f" swarm (swarm.submit's params), got {', '.join(kinds) or 'none'}",
            param="job",
        )
    cwd = job.get("cwd")
    pane_type = job.get("pane_type", "shell")
    if cwd is not None and not isinstance(cwd, str):
        raise InvalidArgumentError(f"job.cwd must be text, got {cwd!r}", param="job.cwd")
    if not isinstance(pane_type, str):
        raise InvalidArgumentError(
            f"job.pane_type must be text, got {pane_type!r}", param="job.pane_type"
        )
    try:
        workdir = _check_cwd(cwd, app.options.project_root)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"job.{exc.message}", param="job.cwd") from None
    if kinds[0] == "command":
        command = job["command"]
        if not isinstance(command, str):
            raise InvalidArgumentError(
                f"job.command must be text (the command line to run), got {command!r}",
                param="job.command",
            )
        built = Job(command, workdir, pane_type)
    else:
        built = await _swarm_job(app, job, kinds[0], workdir)
    return await scheduler.add(
        _text(args, "name"),
        _text(args, "cron"),
        built,
        tz=_text(args, "tz", None),
        on_missed=_text(args, "on_missed", "skip"),
        overlap=_text(args, "overlap", "skip"),
    )


async def _swarm_job(app: Orchestrator, job: dict[str, Any], kind: str, workdir: str) -> Any:
    """A prompt or swarm job, checked now as swarm.submit would check it at each firing."""
    from pathlib import Path

    from orchestrator.coordination.scheduler import Job
    from orchestrator.swarm import spec as specs

    if kind == "prompt":
        prompt, agent = job.get("prompt"), job.get("agent")
        if not isinstance(prompt, str) or not isinstance(agent, str):
            raise InvalidArgumentError(
                "a prompt job is {prompt: text, agent: a name from agent.registry}",
                param="job.agent",
            )
        swarm: dict[str, Any] = {"tasks": [{"id": "prompt", "prompt": prompt, "agent": agent}]}
        label = f"prompt to {agent}"
    else:
        swarm = job["swarm"]
        if not isinstance(swarm, dict):
            raise InvalidArgumentError(
                "job.swarm must be an object: swarm.submit's params", param="job.swarm"
            )
        prompt, agent, label = None, None, "swarm"
    base = Path(workdir)
    try:
        checked = specs.parse(swarm, resolve_cwd=lambda cwd: _check_cwd(cwd, base))
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"job.{kind}: {exc.message}", param=f"job.{kind}") from None
    names = (await app.ai_agent_manager()).registry()
    for t in checked.tasks:
        if t.agent is not None and t.agent not in names:
            raise InvalidArgumentError(
                f"job: unknown agent {t.agent!r}; the registry has: {', '.join(names)}",
                param="job.agent",
            )
    return Job(label, workdir, "shell", kind=kind, swarm=swarm, prompt=prompt, agent=agent)


@method("schedule.list")
async def schedule_list(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[schedule], by name."""
    return await (await app.schedules()).list()


@method("schedule.remove", "name")
async def schedule_remove(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{name, removed: true, still_running: n} (a running command is left to finish)."""
    return await (await app.schedules()).remove(_text(args, "name"))


@method("schedule.run_now", "name")
async def schedule_run_now(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """firing: {id, schedule, due_at, due, state, reason, fired_at, run_id, pane_id,
    exit_code, finished_at}, once its command started (or it was queued)."""
    return await (await app.schedules()).run_now(_text(args, "name"))


@method("schedule.history", "name", "limit")
async def schedule_history(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """[firing], newest first (``limit`` default 50, 1..1000)."""
    return await (await app.schedules()).history(
        _text(args, "name"), limit=_int(args, "limit", 50, high=1000)
    )
