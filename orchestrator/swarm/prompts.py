"""Prompt tasks: ``{prompt, agent}`` goes to an AI agent of the registry over ACP.

One ACP agent per attempt (``agent.create {type: "ai", agent, prompt}`` through the same
``AiAgents`` the API uses), waited for until its turn ends; the transcript is the task's
output; the agent is stopped after. The exit code is 0 for a turn that ended with
``end_turn``, 1 otherwise (its stop reason or error is the task's reason). An agent whose
CLI is not installed, or not in the registry, fails the task with "unavailable: ..." (the
registry's own message). ACP agents are this process's children: a restarted orchestrator
records a prompt task that was running as lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from orchestrator.executors.base import Ending, Outcome
from orchestrator.swarm.runner import PromptRunner
from orchflow_core.errors import OrchflowError

if TYPE_CHECKING:
    from orchestrator.agents.acp_client import AcpAgent
    from orchestrator.agents.ai import AiAgents

log = logging.getLogger(__name__)

_POLL_S = 0.05
DEFAULT_TAIL_LINES = 20
DEFAULT_TAIL_BYTES = 4096
DEFAULT_MAX_OUTPUT_BYTES = 1 << 20


class AgentPrompts(PromptRunner):
    def __init__(self, ai_agents: Callable[[], Awaitable[AiAgents]]) -> None:
        self._ai = ai_agents
        self._running: dict[str, AcpAgent] = {}

    async def run(
        self, key: str, agent: str, prompt: str, cwd: str, timeout_s: float | None
    ) -> Outcome:
        ai = await self._ai()
        view = await ai.create(
            agent, transport="acp", name=None, cwd=cwd or None, session=None, prompt=prompt
        )
        acp = ai.get(view["id"])
        self._running[key] = acp
        turn = acp.turns[-1]
        ending, reason = Ending.EXITED, None
        try:
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while turn.ended_at is None:
                if deadline is not None and time.monotonic() >= deadline:
                    ending, reason = Ending.TIMED_OUT, f"timed out after {timeout_s:g} s"
                    break
                await asyncio.sleep(_POLL_S)
        finally:
            self._running.pop(key, None)
            output = acp.output()
            try:
                await ai.stop(acp.id)
                await ai.stop(acp.id)  # ended: forgotten (agent.list does not keep it)
            except OrchflowError as exc:
                log.info("stopping agent %s: %s", acp.name, exc.message)
        if ending is Ending.EXITED:
            ok = turn.error is None and turn.stop_reason == "end_turn"
            code = 0 if ok else 1
            if not ok:
                reason = turn.error or f"the turn ended: {turn.stop_reason}"
        else:
            code = None
        output = output[-DEFAULT_MAX_OUTPUT_BYTES:]
        tail = "\n".join(output.rstrip("\n").split("\n")[-DEFAULT_TAIL_LINES:])[
            -DEFAULT_TAIL_BYTES:
        ]
        if ending is Ending.EXITED and code == 1 and turn.stop_reason == "cancelled":
            ending = Ending.KILLED
        return Outcome(ending, code, output, tail, reason)

    async def cancel(self, key: str) -> None:
        acp = self._running.get(key)
        if acp is not None and not acp.final:
            await acp.cancel()
