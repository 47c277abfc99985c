"""Host methods that reach the orchestrator: ``orchestrator.*``, ``agent.*``, ``memory.*``,
``schedule.*`` and ``lock.list``.

In embedded mode each answers "unavailable" with how to turn the orchestrator
on; nothing pretends to work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param

if TYPE_CHECKING:
    from orchflow_core.core import Core


@METHODS.method("orchestrator.start")
async def orchestrator_start(core: Core, params: Params) -> dict[str, Any]:
    link = core.orchestrator
    await link.client()  # a sidecar: started and waited for (at most start_timeout_s)
    return await link.status()


@METHODS.method("orchestrator.stop")
async def orchestrator_stop(core: Core, params: Params) -> dict[str, Any]:
    await core.orchestrator.stop()
    return await core.orchestrator.status()


@METHODS.method("orchestrator.status")
async def orchestrator_status(core: Core, params: Params) -> dict[str, Any]:
    return await core.orchestrator.status()


def _forward(name: str, remote: str, required: tuple[str, ...] = ()) -> None:
    """Register host method ``name`` as a call of orchestrator method ``remote``.

    Every parameter is forwarded as given (``null`` ones dropped: Lua's "not set"): the
    orchestrator knows its own parameters and rejects an unknown one by name, so the
    host never silently drops one (``enter`` for agent.send, ``session`` for agent.new).
    ``required`` is checked here only to say so before a sidecar is started for nothing.
    """

    async def handler(core: Core, params: Params) -> Any:
        for key in required:
            param(params, key, (str, int, float, dict, list, bool))
        out = {key: value for key, value in params.items() if value is not None}
        timeout = None
        if out.get("worktree") or out.get("remove_worktree") or remote == "agent.cleanup":
            # a worktree's setup or teardown script may run up to setup_timeout_s, each
            timeout = 2 * float(core.config["worktree"]["setup_timeout_s"]) + 30
        return await core.orchestrator.call(remote, out, timeout_s=timeout)

    METHODS.method(name)(handler)


# host method -> orchestrator method (doc/orchestrator-api.md has each one's parameters)
_forward("agent.new", "agent.create", ("type",))
_forward("agent.list", "agent.list")
_forward("agent.get", "agent.get", ("id",))
_forward("agent.send", "agent.send", ("id", "text"))
_forward("agent.stop", "agent.stop", ("id",))
_forward("agent.output", "agent.output", ("id",))
_forward("agent.worktrees", "agent.worktrees")
_forward("agent.cleanup", "agent.cleanup")
_forward("agent.subscribe", "stream.subscribe", ("id",))
# AI agents (ACP): the orchestrator's agent.* notifications reach Lua as events of the
# same names (orchflow_core/remote/link.py watches on every connection).
_forward("agent.prompt", "agent.prompt", ("id", "text"))
_forward("agent.cancel", "agent.cancel", ("id",))
_forward("agent.answer", "agent.answer", ("id", "request_id", "option_id"))
_forward("agent.turns", "agent.turns", ("id",))
_forward("agent.registry", "agent.registry")
_forward("agent.unsubscribe", "stream.unsubscribe", ("id",))
_forward("memory.store", "memory.store", ("key", "value"))
_forward("memory.get", "memory.get", ("key",))
_forward("memory.search", "memory.search", ("query",))
_forward("memory.list", "memory.list")
_forward("memory.delete", "memory.delete", ("key",))
_forward("schedule.add", "schedule.add", ("name", "cron", "job"))
_forward("schedule.list", "schedule.list")
_forward("schedule.remove", "schedule.remove", ("name",))
_forward("schedule.run_now", "schedule.run_now", ("name",))
_forward("schedule.history", "schedule.history", ("name",))
_forward("lock.list", "lock.list")
