"""A pool of warm ACP agents for swarm prompt tasks, reused across tasks.

Agents are keyed by (registry agent, cwd). Each member is an ordinary ACP agent of the
registry, started through ``AiAgents.create`` (so ``agent.list`` shows it, named
``pool-<agent>-<hex>``, with its worktree and MCP servers as ``agent.create`` would give
it). Life of a member:

- ``warm(agent, cwd, n)``: when a swarm with prompt tasks is submitted, up to
  ``min(max_parallel, its prompt tasks for that agent and cwd)`` agents are started ahead
  of need (``initialize`` and ``session/new`` run while the swarm gets going).
- ``take()``: a task gets an idle member of its key (a warm one first), else a new one if
  the pool has room (at most ``max_agents`` live members in all; an idle member of
  another key is closed to make room), else it waits for one to come back.
- The task runs its turn in a fresh ACP session on that process (``AcpAgent.
  fresh_session``: ``session/new`` on the same connection), so tasks never share a
  conversation.
- ``give_back()``: a member whose turn ended cleanly is idle again; one that crashed,
  errored or timed out is stopped and dropped, and replaced by a new agent while its
  key's warm target is not met (so a retried task finds one).
- An idle member is closed after ``idle_s`` (``[swarm] agent_idle_s``), and every member
  at ``close()`` (the orchestrator's shutdown): no agent process outlives the pool.

A member's process is a child of this orchestrator: a restarted one starts with an empty
pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.agents.state import AgentState
from orchflow_core.errors import OrchflowError

if TYPE_CHECKING:
    from orchestrator.agents.acp_client import AcpAgent
    from orchestrator.agents.ai import AiAgents

log = logging.getLogger(__name__)

DEFAULT_IDLE_S = 120.0
DEFAULT_MAX_AGENTS = 16

Key = tuple[str, str]  # (registry agent, cwd as the task gave it; "" is the project root)


@dataclass(slots=True, eq=False)
class Member:
    acp: AcpAgent
    key: Key
    busy: str | None = None  # the task key it runs for
    tasks: int = 0  # tasks it took
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def info(self) -> dict[str, Any]:
        return {
            "id": self.acp.id,
            "name": self.acp.name,
            "pid": self.acp.pid,
            "session_id": self.acp.session_id,
            "tasks": self.tasks,
        }


class AgentPool:
    def __init__(
        self,
        ai_agents: Callable[[], Awaitable[AiAgents]],
        *,
        idle_s: float | None = DEFAULT_IDLE_S,
        max_agents: int = DEFAULT_MAX_AGENTS,
    ) -> None:
        """``idle_s``: an idle member is closed after it (None: kept until ``close``);
        ``max_agents``: live members at most, all keys together."""
        self._ai = ai_agents
        self.idle_s = idle_s
        self.max_agents = max_agents
        self._members: dict[str, Member] = {}  # by agent id
        self._making = 0  # members being started (their slot is taken)
        self._coming: dict[Key, int] = {}  # of those, the ones no task waits for yet
        self._target: dict[Key, int] = {}  # warm target per key (a crash is replaced to it)
        self._changed = asyncio.Event()  # a member came back, went, or was made
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.started = 0  # agents started, ever
        self.reused = 0  # tasks that got an agent which had run a task before

    # -- views -------------------------------------------------------------------------
    def members(self, key: Key | None = None) -> list[Member]:
        return [m for m in self._members.values() if key is None or m.key == key]

    def view(self) -> dict[str, Any]:
        live = [m for m in self._members.values() if not m.acp.final]
        return {
            "agents": len(live),
            "busy": sum(m.busy is not None for m in live),
            "max_agents": self.max_agents,
            "idle_s": self.idle_s,
            "started": self.started,
            "reused": self.reused,
        }

    # -- warming -----------------------------------------------------------------------
    async def warm(self, agent: str, cwd: str, n: int) -> int:
        """Start members for (agent, cwd) until ``n`` live ones exist (bounded by room in
        the pool); returns how many were started. Their handshakes go on in the
        background."""
        key = (agent, cwd)
        n = min(n, self.max_agents)
        self._target[key] = max(self._target.get(key, 0), n)
        need = n - len(self._live(key))
        need = min(need, self.max_agents - self._count())
        if need <= 0:
            return 0
        for _ in range(need):
            self._reserve(key, for_task=False)
        results = await asyncio.gather(
            *(self._start(key) for _ in range(need)), return_exceptions=True
        )
        for r in results:
            if isinstance(r, OrchflowError):
                log.warning("warming %s agents in %r: %s", agent, cwd or ".", r.message)
            elif isinstance(r, BaseException):
                raise r
        return sum(not isinstance(r, BaseException) for r in results)

    def _live(self, key: Key) -> list[Member]:
        return [m for m in self._members.values() if m.key == key and not m.acp.final]

    def _count(self) -> int:
        return sum(not m.acp.final for m in self._members.values()) + self._making

    def _reserve(self, key: Key, *, for_task: bool) -> None:
        """Count a member about to be started (before any await: nobody overshoots)."""
        self._making += 1
        if not for_task:
            self._coming[key] = self._coming.get(key, 0) + 1

    async def _start(self, key: Key, *, busy: str | None = None) -> Member:
        """A new member, reserved first (``_reserve``; ``busy``: for that task)."""
        try:
            ai = await self._ai()
            agent, cwd = key
            view = await ai.create(
                agent,
                transport="acp",
                name=f"pool-{agent}-{secrets.token_hex(3)}"[:64],
                cwd=cwd or None,
                session=None,
                prompt=None,
                resumable=False,  # the pool ends with this process: not brought back
            )
            member = Member(ai.get(view["id"]), key, busy=busy)
        finally:
            self._making -= 1
            if busy is None:
                self._coming[key] -= 1
            self._changed.set()  # a take() waiting for it looks again
        self._members[member.acp.id] = member
        self.started += 1
        if busy is None:
            self._arm(member)
        self._changed.set()
        log.info("agent pool: started %s (pid %s) for %s", member.acp.name, member.acp.pid, key)
        return member

    # -- taking and giving back -------------------------------------------------------
    async def take(self, agent: str, cwd: str, task_key: str) -> Member:
        """An idle member of (agent, cwd) for ``task_key``, a new one, or the next that
        comes back (see the module docstring). Raises what ``agent.create`` raises (an
        unknown or missing agent: the task says so)."""
        key = (agent, cwd)
        while True:
            if self._closed:
                raise OrchflowError("the agent pool is closed (the orchestrator stops)")
            await self._prune()
            idle = [m for m in self._live(key) if m.busy is None]
            if idle:
                # a member whose handshake is done first, then the one that ran least
                idle.sort(key=lambda m: (m.acp.state is AgentState.STARTING, m.tasks))
                member = idle[0]
                member.busy = task_key
                self._disarm(member)
                member.tasks += 1
                if member.tasks > 1:
                    self.reused += 1
                return member
            if self._coming.get(key):  # one is being started for this key: wait for it
                self._changed.clear()
                await self._changed.wait()
                continue
            if self._count() >= self.max_agents:
                others = [m for m in self._members.values() if m.busy is None and m.key != key]
                if others:
                    await self._retire(others[0], "room for another agent or cwd")
                    continue
                self._changed.clear()
                await self._changed.wait()
                continue
            self._reserve(key, for_task=True)
            member = await self._start(key, busy=task_key)
            member.tasks += 1
            return member

    async def give_back(
        self, member: Member, *, healthy: bool, why: str = "", replace: bool = True
    ) -> None:
        """The task ended: the member is idle again, or (not ``healthy``) dropped and
        (``replace``) replaced up to its key's warm target."""
        member.busy = None
        if healthy and not member.acp.final and not self._closed:
            self._arm(member)
            self._changed.set()
            return
        await self._retire(member, why or member.acp.state_reason or "it ended")
        key = member.key
        if (
            replace
            and not self._closed
            and len(self._live(key)) < self._target.get(key, 0)
            and self._count() < self.max_agents
        ):
            self._reserve(key, for_task=False)
            self._spawn(self._replace(key))

    async def _replace(self, key: Key) -> None:
        try:
            member = await self._start(key)
        except OrchflowError as exc:
            log.warning("agent pool: replacing an agent for %s failed: %s", key, exc.message)
            return
        log.info("agent pool: %s replaces a dropped agent for %s", member.acp.name, key)

    async def _prune(self) -> None:
        """Drop members that ended on their own (crashed while idle, stopped by a user)."""
        for m in [m for m in self._members.values() if m.acp.final and m.busy is None]:
            await self._retire(m, m.acp.state_reason or "it ended")

    async def _retire(self, member: Member, why: str) -> None:
        """Stop the member's agent and forget it (agent.list no longer shows it)."""
        self._disarm(member)
        if self._members.pop(member.acp.id, None) is None:
            return
        self._changed.set()
        log.info("agent pool: closing %s (%s)", member.acp.name, why)
        try:
            ai = await self._ai()
            await ai.stop(member.acp.id)
            if not member.acp.final:  # should not happen: stop() ends it
                log.warning("agent pool: %s did not end", member.acp.name)
            with contextlib.suppress(OrchflowError):  # ended: forgotten
                await ai.stop(member.acp.id)
        except OrchflowError as exc:
            log.warning("agent pool: stopping %s: %s", member.acp.name, exc.message)

    # -- idle timers -------------------------------------------------------------------
    def _arm(self, member: Member) -> None:
        self._disarm(member)
        if self.idle_s is not None:
            member.timer = asyncio.get_running_loop().call_later(self.idle_s, self._expire, member)

    @staticmethod
    def _disarm(member: Member) -> None:
        if member.timer is not None:
            member.timer.cancel()
            member.timer = None

    def _expire(self, member: Member) -> None:
        member.timer = None
        if member.busy is not None or member.acp.id not in self._members:
            return
        target = self._target.get(member.key, 0)
        if target > 0:  # closed for idleness: not replaced
            self._target[member.key] = target - 1
        self._spawn(self._retire(member, f"idle for {self.idle_s:g} s"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every member (the orchestrator's shutdown)."""
        self._closed = True
        self._changed.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # bounded stops and starts
        await asyncio.gather(
            *(self._retire(m, "the orchestrator stops") for m in list(self._members.values())),
            return_exceptions=True,
        )
