"""Prompt tasks: ``{prompt, agent}`` goes to an AI agent of the registry over ACP.

The agent comes from the pool of warm agents (agent_pool.py): an idle one of the task's
agent and cwd, started ahead when the swarm was submitted, or a new one. The task's turn
runs in a fresh ACP session on that process (``session/new`` on its connection, unless
the session it has never had a turn), so tasks never share a conversation; its output is
the part of the agent's transcript since the task took it. The exit code is 0 for a turn
that ended with ``end_turn``, 1 otherwise (its stop reason or error is the task's reason).
After the turn the agent goes back to the pool; one that crashed, errored or timed out is
stopped and replaced. An agent whose CLI is not installed, or not in the registry, fails
the task with "unavailable: ..." (the registry's own message). ACP agents are this
process's children: a restarted orchestrator records a prompt task that was running as
lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orchestrator.executors.base import Ending, Outcome
from orchestrator.swarm.agent_pool import DEFAULT_IDLE_S, DEFAULT_MAX_AGENTS, AgentPool, Member
from orchestrator.swarm.runner import PromptRunner, Started
from orchflow_core.errors import OrchflowError

if TYPE_CHECKING:
    from orchestrator.agents.acp_client import AcpAgent
    from orchestrator.agents.ai import AiAgents

log = logging.getLogger(__name__)

_POLL_S = 0.02
DEFAULT_TAIL_LINES = 20
DEFAULT_TAIL_BYTES = 4096
DEFAULT_MAX_OUTPUT_BYTES = 1 << 20
DEFAULT_END_WAIT_S = 3.0  # a cancelled or broken turn: how long its end is waited for


class AgentPrompts(PromptRunner):
    def __init__(
        self,
        ai_agents: Callable[[], Awaitable[AiAgents]],
        *,
        idle_s: float | None = DEFAULT_IDLE_S,
        max_agents: int = DEFAULT_MAX_AGENTS,
    ) -> None:
        """``idle_s`` and ``max_agents``: the pool's (``[swarm] agent_idle_s`` and
        ``agent_pool_max``)."""
        self.pool = AgentPool(ai_agents, idle_s=idle_s, max_agents=max_agents)
        self._running: dict[str, AcpAgent] = {}
        self._stops: dict[str, asyncio.Event] = {}  # per running key: set by cancel()
        self._tasks: set[asyncio.Task[None]] = set()

    async def warm(self, agent: str, cwd: str, n: int) -> int:
        return await self.pool.warm(agent, cwd, n)

    async def run(
        self,
        key: str,
        agent: str,
        prompt: str,
        cwd: str,
        timeout_s: float | None,
        *,
        started: Started | None = None,
    ) -> Outcome:
        stop = self._stops[key] = asyncio.Event()
        try:
            member = await self._take(agent, cwd, key, stop)
            if member is None:
                return Outcome(Ending.KILLED, None, reason="swarm.cancel")
            return await self._run(member, key, prompt, timeout_s, stop, started)
        finally:
            self._stops.pop(key, None)

    async def _take(self, agent: str, cwd: str, key: str, stop: asyncio.Event) -> Member | None:
        """A pooled agent, or None when the task was cancelled while it waited for one (the
        agent it then gets goes back to the pool)."""
        taking = asyncio.ensure_future(self.pool.take(agent, cwd, key))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({taking, stopped}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            taking.cancel()
            raise
        finally:
            stopped.cancel()
        if taking.done():
            return taking.result()
        task = asyncio.get_running_loop().create_task(self._back_when_taken(taking))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    async def _back_when_taken(self, taking: asyncio.Future[Member]) -> None:
        try:
            member = await taking
        except OrchflowError as exc:
            log.info("a cancelled task's agent did not start: %s", exc.message)
            return
        await self.pool.give_back(member, healthy=True)

    async def _run(
        self,
        member: Member,
        key: str,
        prompt: str,
        timeout_s: float | None,
        stop: asyncio.Event,
        started: Started | None,
    ) -> Outcome:
        acp = member.acp
        self._running[key] = acp
        mark = acp.last_seq
        ending, reason, code = Ending.EXITED, None, None
        healthy = False
        turn = None
        try:
            try:
                session = await acp.fresh_session()
            except OrchflowError as exc:  # it ended before this task could use it
                return self._outcome(acp, mark, Ending.LOST, None, exc.message)
            if stop.is_set():  # cancelled while its agent got ready
                healthy = True
                return self._outcome(acp, mark, Ending.KILLED, None, "swarm.cancel")
            turn = acp.prompt(prompt)
            if started is not None:
                await started({**member.info(), "session_id": session, "turn_id": turn.turn_id})
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            cancel_sent = False
            while turn.ended_at is None:
                if deadline is not None and time.monotonic() >= deadline:
                    ending, reason = Ending.TIMED_OUT, f"timed out after {timeout_s:g} s"
                    break
                if stop.is_set() and not cancel_sent and turn.started_at is not None:
                    cancel_sent = True  # session/cancel reaches a turn only once it runs
                    try:
                        await acp.cancel()
                    except OrchflowError as exc:
                        log.info("cancelling %s's turn: %s", acp.name, exc.message)
                await asyncio.sleep(_POLL_S)
            if ending is Ending.TIMED_OUT:
                if not acp.final:
                    try:
                        await acp.cancel()
                    except OrchflowError as exc:
                        log.info("cancelling %s's turn: %s", acp.name, exc.message)
                await self._until(lambda: turn is not None and turn.ended_at is not None)
            else:
                if turn.error is not None and not acp.final:  # gone mid-turn: its exit code
                    await self._until(lambda: acp.final)
                ok = turn.error is None and turn.stop_reason == "end_turn"
                code = 0 if ok else 1
                if not ok:
                    reason = turn.error or f"the turn ended: {turn.stop_reason}"
                if turn.stop_reason == "cancelled" and turn.error is None:
                    ending = Ending.KILLED
                healthy = turn.error is None and not acp.final
        finally:
            self._running.pop(key, None)
            why = reason if not healthy else ""
            output = self._output(acp, mark)
            me = asyncio.current_task()
            stopping = me is not None and me.cancelling() > 0  # the orchestrator stops
            try:
                await asyncio.shield(
                    self.pool.give_back(
                        member, healthy=healthy, why=why or "", replace=not stopping
                    )
                )
            except OrchflowError as exc:
                log.warning("giving %s back to the pool: %s", acp.name, exc.message)
        return self._finish(output, ending, code, reason)

    @staticmethod
    async def _until(check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEFAULT_END_WAIT_S
        while not check() and time.monotonic() < deadline:  # noqa: ASYNC110 - no turn event
            await asyncio.sleep(_POLL_S)

    @staticmethod
    def _output(acp: AcpAgent, mark: int) -> str:
        """The agent's transcript since ``mark`` (its last update before the task)."""
        items = [u for u in acp.updates if u["seq"] > mark]
        text = "".join(str(u["text"]) for u in items)
        if items and items[0]["seq"] > mark + 1:
            text = f"[{items[0]['seq'] - mark - 1} earlier updates dropped]\n" + text
        return text

    def _outcome(
        self, acp: AcpAgent, mark: int, ending: Ending, code: int | None, reason: str | None
    ) -> Outcome:
        return self._finish(self._output(acp, mark), ending, code, reason)

    @staticmethod
    def _finish(output: str, ending: Ending, code: int | None, reason: str | None) -> Outcome:
        output = output[-DEFAULT_MAX_OUTPUT_BYTES:]
        tail = "\n".join(output.rstrip("\n").split("\n")[-DEFAULT_TAIL_LINES:])[
            -DEFAULT_TAIL_BYTES:
        ]
        return Outcome(ending, code, output, tail, reason)

    async def cancel(self, key: str) -> None:
        """Cancel the task's turn (now if it runs, else as soon as it does)."""
        stop = self._stops.get(key)
        if stop is not None:
            stop.set()
        acp = self._running.get(key)
        running = acp is not None and acp.turns and acp.turns[-1].started_at is not None
        if acp is not None and running and not acp.final:
            await acp.cancel()

    def view(self) -> dict[str, Any]:
        return self.pool.view()

    async def close(self) -> None:
        closing = asyncio.ensure_future(self.pool.close())  # first: a waiting take() ends
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await closing
