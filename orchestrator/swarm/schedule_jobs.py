"""The scheduler's job runner for every job kind: a command is typed in the schedule's pane
(``PaneJobRunner``); a prompt or a swarm job is submitted as a swarm at each firing.

A swarm firing's ``run_id`` is the swarm's id (``sw-…``): it ``finished`` with exit code 0
when every task succeeded, 1 otherwise, or ``cancelled``. A restarted orchestrator settles a
firing whose swarm was running once that swarm ends (swarms are re-attached themselves).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.agents import _check_cwd
from orchestrator.coordination.scheduler import PaneJobRunner, Schedule

if TYPE_CHECKING:
    from orchestrator.swarm.runner import SwarmManager

SWARM_PREFIX = "sw-"


class ScheduleJobRunner:
    def __init__(self, panes: PaneJobRunner, swarms: Callable[[], Awaitable[SwarmManager]]) -> None:
        self._panes = panes
        self._swarms = swarms

    async def start(self, schedule: Schedule, firing_id: str) -> dict[str, Any]:
        job = schedule.job
        if job.kind == "command" or job.swarm is None:
            return await self._panes.start(schedule, firing_id)
        manager = await self._swarms()
        params = {"name": f"sched-{schedule.name}", **job.swarm}
        base = Path(job.cwd)
        submitted = await manager.submit(params, resolve_cwd=lambda cwd: _check_cwd(cwd, base))
        return {"id": submitted["swarm_id"], "pane_id": None}

    async def wait(self, run: dict[str, Any]) -> dict[str, Any]:
        if not str(run["id"]).startswith(SWARM_PREFIX):
            return await self._panes.wait(run)
        return await self._ended(str(run["id"]))

    async def peek(self, run_id: str) -> dict[str, Any]:
        if not run_id.startswith(SWARM_PREFIX):
            return await self._panes.peek(run_id)
        return await self._ended(run_id)

    async def _ended(self, swarm_id: str) -> dict[str, Any]:
        status = await (await self._swarms()).wait(swarm_id)
        state = status["state"]
        return {
            "id": swarm_id,
            "state": "cancelled" if state == "cancelled" else "finished",
            "exit_code": 0 if state == "succeeded" else 1,
        }
