"""The locks an agent holds in the orchestrator's LockManager: those it declared at
``agent.create {locks: [{resource, mode}]}`` and its worktree's port (``port:<n>``,
exclusive), so ``lock.list`` shows them and swarm tasks or clients asking for the same
resource wait or are refused.

Declared locks are taken before the agent starts: one that is taken refuses
``agent.create`` at once, naming its holders, and nothing starts. They are held while the
agent lives (a lease of ``AGENT_LEASE_S``) and released by ``agent.stop``. Like every lock,
they live in this process: an orchestrator restart forgets them.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from orchestrator.coordination.locks import MAX_LEASE_S, LockManager, LockMode
from orchflow_core.errors import ConflictError, InvalidArgumentError

log = logging.getLogger(__name__)

AGENT_LEASE_S = MAX_LEASE_S  # held while the agent lives, at most a day without a restart
MAX_DECLARED = 32


def parse(raw: object) -> list[tuple[str, LockMode]]:
    """``[{resource, mode}]`` checked: (resource, LockMode) pairs."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_DECLARED:
        raise InvalidArgumentError(
            f"locks must be a list of at most {MAX_DECLARED} {{resource, mode}} objects",
            param="locks",
        )
    out: list[tuple[str, LockMode]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"resource", "mode"}:
            raise InvalidArgumentError(
                f"locks[{i}] must be {{resource, mode}}, got {item!r}", param="locks"
            )
        resource, mode = item.get("resource"), item.get("mode", "exclusive")
        if not isinstance(resource, str) or not isinstance(mode, str):
            raise InvalidArgumentError(
                f"locks[{i}]: resource and mode must be text, got {item!r}", param="locks"
            )
        try:
            resource = LockManager.check_resource(resource)
            mode = LockManager.check_mode(mode)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"locks[{i}]: {exc.message}", param="locks") from None
        out.append((resource, mode))
    return out


class AgentLeases:
    def __init__(self, locks: LockManager) -> None:
        self._locks = locks
        self._owners: dict[str, str] = {}  # agent id -> lock owner

    async def take(self, declared: list[tuple[str, LockMode]]) -> str:
        """Take every declared lock now (none is waited for), or none: the owner key."""
        owner = f"agent-{uuid.uuid4().hex[:12]}"
        try:
            for resource, mode in declared:
                await self._locks.acquire(
                    owner, "agent (starting)", resource, mode, lease_s=AGENT_LEASE_S
                )
        except BaseException:
            self._locks.release_owner(owner)
            raise
        return owner

    async def bind(self, owner: str, agent: dict[str, Any]) -> None:
        """The agent started: its locks carry its name, its worktree's port is leased too."""
        self._owners[str(agent["id"])] = owner
        label = f"agent {agent.get('name')}"
        self._locks.relabel(owner, label)
        port = (agent.get("worktree") or {}).get("port")
        if isinstance(port, int):
            try:
                await self._locks.acquire(
                    owner, label, f"port:{port}", LockMode.EXCLUSIVE, lease_s=AGENT_LEASE_S
                )
            except ConflictError as exc:  # its worktree has the port; a client locked it
                log.warning("agent %s: port %d not leased: %s", agent.get("name"), port, exc)
        agent["locks"] = self._locks.held_by(owner)

    def drop(self, owner: str) -> None:
        """agent.create failed after the locks were taken."""
        self._locks.release_owner(owner)

    def release(self, agent_id: str) -> int:
        owner = self._owners.pop(agent_id, None)
        return self._locks.release_owner(owner) if owner is not None else 0

    def of(self, agent_id: str) -> list[dict[str, Any]]:
        owner = self._owners.get(agent_id)
        return self._locks.held_by(owner) if owner is not None else []


def leases_of(app: Any) -> AgentLeases:
    found = getattr(app, "_agent_leases", None)
    if not isinstance(found, AgentLeases):
        found = AgentLeases(app.locks)
        app._agent_leases = found
    return found
