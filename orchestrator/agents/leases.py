"""The locks an agent holds in the orchestrator's LockManager: those it declared at
``agent.create {locks: [{resource, mode}]}`` and its worktree's port (``port:<n>``,
exclusive), so ``lock.list`` shows them and swarm tasks or clients asking for the same
resource wait or are refused.

Declared locks are taken before the agent starts: one that is taken refuses
``agent.create`` at once, naming its holders, and nothing starts. They are held while the
agent lives (a lease of ``AGENT_LEASE_S``) under the owner key ``agent:<id>``, and released
by ``agent.stop`` or when the agent ends:

- an AI agent's ``agent.state`` reaching ``exited`` or ``error`` releases them (the event's
  params then carry ``locks: []``);
- a pane agent (and a terminal AI agent) whose process ended or whose pane went: its pane's
  ``pane.state``/``pane.closed`` event, and, while it holds locks, a look at its pane every
  ``poll_s`` (tmux says nothing when a pane's process ends; one round trip per agent).

Either way a log line names the agent and how many locks went. They are stored
(orchestrator/coordination/lock_journal.py): a restarted orchestrator keeps the locks of
the agents it re-attaches (``reattach``: their pane's process still runs;
``reattach_acp``: ACP agents it brought back) with the lease they had left, and releases
the others.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orchestrator.coordination.lock_owners import agent_owner
from orchestrator.coordination.locks import MAX_LEASE_S, LockManager, LockMode
from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError, OrchflowError
from orchflow_core.events import Event

if TYPE_CHECKING:
    from orchestrator.agents import AgentManager
    from orchflow_core.terminal.manager import TerminalManager

log = logging.getLogger(__name__)

AGENT_LEASE_S = MAX_LEASE_S  # held while the agent lives, at most a day without a restart
MAX_DECLARED = 32
DEFAULT_POLL_S = 1.0  # how often a lock-holding pane agent's pane is looked at
DEFAULT_LOOK_TIMEOUT_S = 5.0  # one look at a pane, at most
FINAL_STATES = frozenset({"exited", "error"})  # an AI agent's states that end it
ENDED_PANE = frozenset({"exited", "closed"})


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
    def __init__(
        self,
        locks: LockManager,
        agents: Callable[[], Awaitable[AgentManager]] | None = None,
        *,
        poll_s: float = DEFAULT_POLL_S,
        look_timeout_s: float = DEFAULT_LOOK_TIMEOUT_S,
    ) -> None:
        """``agents``: the started AgentManager (for pane agents' panes); ``poll_s``
        (default 1 s): how often a lock-holding pane agent's pane is looked at;
        ``look_timeout_s`` (default 5 s): one look, at most."""
        self._locks = locks
        self._agents = agents
        self.poll_s = poll_s
        self.look_timeout_s = look_timeout_s
        self._owners: dict[str, str] = {}  # agent id -> lock owner
        self._panes: dict[str, str] = {}  # agents whose pane is looked at: id -> name
        self._released: dict[str, int] = {}  # agent id -> locks released when it ended
        self._tm: TerminalManager | None = None  # the one whose events we hear
        self._unsubscribe: Callable[[], None] | None = None
        self._poller: asyncio.Task[None] | None = None

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
        """The agent started: its locks carry its name and its id (``agent:<id>``), its
        worktree's port is leased too; a pane agent's end is watched."""
        agent_id = str(agent["id"])
        label = f"agent {agent.get('name')}"
        self._locks.rekey(owner, agent_owner(agent_id), label)
        owner = agent_owner(agent_id)
        self._owners[agent_id] = owner
        port = (agent.get("worktree") or {}).get("port")
        if isinstance(port, int):
            try:
                await self._locks.acquire(
                    owner, label, f"port:{port}", LockMode.EXCLUSIVE, lease_s=AGENT_LEASE_S
                )
            except ConflictError as exc:  # its worktree has the port; a client locked it
                log.warning("agent %s: port %d not leased: %s", agent.get("name"), port, exc)
        await self._locks.durable()  # agent.create answers once its locks are stored
        agent["locks"] = self._locks.held_by(owner)
        if agent.get("transport") != "acp" and self._locks.held_by(owner):
            await self._watch(agent_id, label)  # an ACP agent's end is its agent.state

    # -- the agent ended -------------------------------------------------------------------
    def ended(self, agent_id: str, why: str, *, name: str = "an agent") -> int:
        """The agent's process ended: its locks go (idempotent)."""
        name = self._panes.pop(agent_id, name)
        owner = self._owners.pop(agent_id, None)
        if owner is None:
            return 0
        n = self._locks.release_owner(owner, quiet=True)
        self._released[agent_id] = n
        log.info("%s (%s) ended, %s: released its %d locks", name, agent_id, why, n)
        return n

    def on_agent_state(self, params: dict[str, Any]) -> dict[str, Any]:
        """An ``agent.state`` event on its way out: a final state releases the agent's
        locks, and the event says what it holds now (``locks``)."""
        if params.get("state") not in FINAL_STATES:
            return params
        agent_id = str(params.get("id"))
        reason = params.get("reason")
        why = f"state {params.get('state')}" + (f" ({reason})" if reason else "")
        self.ended(agent_id, why, name=f"agent {params.get('name')}")
        return {**params, "locks": self.of(agent_id)}

    def _on_pane(self, event: Event) -> None:
        agent_id = str(event.data.get("id"))
        if agent_id not in self._panes:
            return
        if event.kind == "pane.closed":
            self.ended(agent_id, "its pane was closed")
        elif event.data.get("state") == "exited":
            self.ended(agent_id, f"its process exited (code {event.data.get('exit_code')})")

    async def _watch(self, agent_id: str, label: str) -> None:
        """Hear of ``agent_id``'s pane ending (events, and a look every ``poll_s``)."""
        if self._agents is None:
            return
        tm = await (await self._agents()).tm()
        if self._tm is not tm:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._tm = tm
            self._unsubscribe = tm.events.subscribe(
                self._on_pane, kinds={"pane.state", "pane.closed"}
            )
        self._panes[agent_id] = label
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(tm))

    async def _poll(self, tm: TerminalManager) -> None:
        while self._panes:
            await asyncio.sleep(self.poll_s)
            for agent_id in list(self._panes):
                try:
                    async with asyncio.timeout(self.look_timeout_s):
                        rec = await tm.get(agent_id, observed=False)
                except NotFoundError:
                    self.ended(agent_id, "its pane is gone")
                    continue
                except (OrchflowError, TimeoutError) as exc:  # tmux busy: the next look
                    log.debug("looking at agent %s's pane: %r", agent_id, exc)
                    continue
                if rec.get("state") in ENDED_PANE:  # its event said so already, normally
                    self.ended(agent_id, f"its pane is {rec.get('state')}")

    async def reattach(self, agents: AgentManager) -> int:
        """After a restart: the restored locks of the agents whose pane's process still
        runs are theirs again (and watched); the rest go at ``LockManager.settle``."""
        from orchestrator.agents import AGENT

        tm = await agents.tm()
        kept = 0
        for rec in tm.records(meta_key=AGENT):
            if rec.state.value not in ("idle", "running"):
                continue
            owner = agent_owner(rec.orchflow_id)
            if self._locks.claim(owner):
                self._owners[rec.orchflow_id] = owner
                await self._watch(rec.orchflow_id, f"agent {rec.name}")
                kept += 1
                log.info("agent %s re-attached: its locks are kept", rec.name)
        return kept

    def reattach_acp(self, agents: list[Any]) -> int:
        """After a restart: the ACP agents the orchestrator brought back (``session/load``,
        orchestrator/agents/resume.py) keep their restored locks; their end is their
        ``agent.state`` (``on_agent_state``). Those that came back ended do not."""
        kept = 0
        for agent in agents:
            if agent.final:
                continue
            owner = agent_owner(agent.id)
            if self._locks.claim(owner):
                self._owners[agent.id] = owner
                kept += 1
                log.info("ACP agent %s came back: its locks are kept", agent.name)
        return kept

    def drop(self, owner: str) -> None:
        """agent.create failed after the locks were taken."""
        self._locks.release_owner(owner)

    def release(self, agent_id: str) -> int:
        """agent.stop: its locks go (or went when it ended); how many."""
        self._panes.pop(agent_id, None)
        owner = self._owners.pop(agent_id, None)
        if owner is None:
            return self._released.pop(agent_id, 0)
        return self._locks.release_owner(owner, why="agent.stop")

    def close(self) -> None:
        """Stop looking at panes (shutdown; the agents keep running)."""
        if self._poller is not None:
            self._poller.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def of(self, agent_id: str) -> list[dict[str, Any]]:
        owner = self._owners.get(agent_id)
        return self._locks.held_by(owner) if owner is not None else []


def leases_of(app: Any) -> AgentLeases:
    found = getattr(app, "_agent_leases", None)
    if not isinstance(found, AgentLeases):
        found = AgentLeases(app.locks, app.agent_manager)
        app._agent_leases = found
    return found
