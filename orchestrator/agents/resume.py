"""Resuming AI agents: ``agent.restart`` and ACP agents across an orchestrator restart.

``agent.restart {id, resume?}`` keeps the agent's id and name and answers ``{id, name,
resumed, how}``; a running agent is stopped first, an ``exited``/``error`` one just
started again:

- **ACP**: the agent's command runs again (same cwd, worktree and tmux session) and, when
  its ``initialize`` offers ``loadSession`` and ``resume`` is true, ``session/load`` opens
  the stored session id: the agent replays the conversation as ``session/update``, which
  lands in its transcript (and an open output float) after what it showed before, seq
  numbers going on. ``how`` is "session/load", or "fresh: <why>" (the agent does not offer
  ``session/load``, refused it, never opened a session, or ``resume`` was false).
- **Terminal** (the CLI's TUI in a tmux pane): its pane is closed and the TUI starts again
  in a new pane of the same name, cwd and session (the agent id stays; the pane id is
  new), with the registry's ``resume`` flags plus the vendor session id a hook payload gave
  (Claude and Gemini hooks carry ``session_id``), else its ``continue`` flags, else fresh;
  ``how`` says which ("flags: claude --resume 1234").

A restarted orchestrator calls ``revive()``: the ACP agents that were live when it stopped
or crashed (``agent_sessions`` rows neither stopped nor ended) start again and load their
session where the agent offered ``loadSession`` (state ``idle``, source ``process``, reason
"restarted with the orchestrator (session/load)"); the others come back ``exited`` with
the reason, and ``agent.restart`` starts them fresh. Agents that had ended on their own
come back in the state they ended in. None is silently gone.

``SessionKeeper.observe`` sees every ``agent.state`` notification and keeps the rows up to
date (the session id once open, an agent that ended on its own).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from typing import TYPE_CHECKING, Any

from orchestrator.agents import registry as agent_registry
from orchestrator.agents.session_store import SessionRow, SessionStore
from orchestrator.agents.state import AgentState
from orchflow_core.errors import ConfigError, ConflictError, NotFoundError, UnavailableError

if TYPE_CHECKING:
    from orchestrator.agents.acp_client import AcpAgent
    from orchestrator.agents.ai import AiAgents
    from orchestrator.agents.terminal_ai import TerminalAiAgent

log = logging.getLogger(__name__)

DEFAULT_RESTART_MARGIN_S = 5.0  # agent.restart waits init_timeout_s + this for the session
LOADED = "session/load"
_FINAL = {"exited": AgentState.EXITED, "error": AgentState.ERROR}


class SessionKeeper:
    """Keeps ``agent_sessions`` in step with the agents (see the module docstring)."""

    def __init__(self, ai: AiAgents, store: SessionStore) -> None:
        self._ai = ai
        self.store = store
        self.closing = False  # the orchestrator stops: its agents end, but were live
        self._recorded: dict[str, str] = {}  # agent id -> the session id last written
        self.shown: set[str] = set()  # brought back ended: their rows stay as they are

    def created(self, agent_id: str, *, agent: str, transport: str, view: dict[str, Any]) -> None:
        self.store.created(
            agent_id=agent_id,
            name=str(view["name"]),
            agent=agent,
            transport=transport,
            cwd=str(view["cwd"]),
            session=view.get("session"),
            worktree=self._ai.worktree_of(agent_id),
            created_at=float(view.get("created_at") or 0.0),
        )
        self._recorded.pop(agent_id, None)
        self.shown.discard(agent_id)

    def observe(self, params: dict[str, Any]) -> None:
        """One ``agent.state`` notification."""
        agent_id = str(params.get("id"))
        state = params.get("state")
        acp = self._ai.find_acp(agent_id)
        if acp is not None and acp.session_id and self._recorded.get(agent_id) != acp.session_id:
            self._recorded[agent_id] = acp.session_id
            self.store.session_opened(agent_id, acp.session_id, acp.can_load)
        if state in _FINAL and not self.closing and agent_id not in self.shown:
            self.store.ended(agent_id, str(state), params.get("reason"))

    def hook(self, agent: TerminalAiAgent, payload: dict[str, Any]) -> None:
        """A vendor hook's payload: its ``session_id`` (Claude, Gemini) is what resumes."""
        sid = payload.get("session_id")
        if isinstance(sid, str) and sid and self._recorded.get(agent.id) != sid:
            self._recorded[agent.id] = sid
            self.store.session_opened(agent.id, sid, None)


# -- agent.restart ---------------------------------------------------------------------
async def restart(ai: AiAgents, ref: str, *, resume: bool) -> dict[str, Any]:
    """``agent.restart``: see the module docstring (one restart of an agent at a time)."""
    acp = ai.find(ref)
    tui = None
    if acp is None:
        tui = ai.find_tui(ref) or await _tui_of_pane(ai, ref)
    agent_id = acp.id if acp is not None else tui.id if tui is not None else None
    if agent_id in ai.restarting:
        raise ConflictError(f"agent {ref!r} is being restarted already", id=agent_id)
    if acp is not None:
        ai.restarting.add(acp.id)
        try:
            return await _restart_acp(ai, acp, resume=resume)
        finally:
            ai.restarting.discard(acp.id)
    if tui is not None:
        ai.restarting.add(tui.id)
        try:
            return await _restart_terminal(ai, tui, resume=resume)
        finally:
            ai.restarting.discard(tui.id)
    raise NotFoundError(
        f"no AI agent {ref!r} to restart (agent.restart takes an ACP or terminal AI agent's "
        "id or name; see agent.list)",
        id=ref,
    )


async def _tui_of_pane(ai: AiAgents, ref: str) -> TerminalAiAgent | None:
    try:
        view = await ai.pane_view(ref)
    except NotFoundError:
        return None
    return ai.find_tui(str(view["id"]))


def _spec_of(ai: AiAgents, name: str) -> agent_registry.AgentSpec | None:
    try:
        return ai.registry().get(name)
    except ConfigError as exc:
        log.warning("the agent registry is broken: %s", exc.message)
        return None


async def _restart_acp(ai: AiAgents, old: AcpAgent, *, resume: bool) -> dict[str, Any]:
    spec = _spec_of(ai, old.spec.name) or old.spec
    if not old.final:
        await old.stop()
    new = ai.new_acp(spec, name=old.name, cwd=old.cwd, session=old.session, agent_id=old.id)
    new.inherit(old)
    new.worktree, new.worktree_env = old.worktree, old.worktree_env
    _want_load(new, old.session_id, resume=resume)
    new.ready_reason = "restarted"
    ai.replace_acp(new)
    if ai.keeper is not None:
        ai.keeper.created(new.id, agent=spec.name, transport="acp", view=new.view())
    await new.start()
    await _session_open(new)
    log.info("ACP agent %s restarted: %s", new.name, new.how)
    return {"id": new.id, "name": new.name, "resumed": new.how == LOADED, "how": new.how}


def _want_load(agent: AcpAgent, session_id: str | None, *, resume: bool) -> None:
    if not resume:
        agent.how = "fresh: resume was false"
    elif session_id is None:
        agent.how = f"fresh: {agent.spec.name} never opened a session to load"
    else:
        agent.load_session_id = session_id


async def _session_open(agent: AcpAgent) -> None:
    """Wait (bounded) until the restarted agent's session is open; an agent that failed
    instead is an error naming why."""
    within = agent.spec.init_timeout_s + DEFAULT_RESTART_MARGIN_S
    try:
        async with asyncio.timeout(within):
            await agent._ready_or_final()
    except TimeoutError:
        raise UnavailableError(
            f"agent {agent.name} did not open a session within {within:g} s",
            feature="agents.acp",
        ) from None
    if agent.final:
        raise UnavailableError(
            f"agent {agent.name} did not come back: {agent.state_reason}",
            feature="agents.acp",
            id=agent.id,
            state=agent.state.value,
        )


# -- terminal agents -----------------------------------------------------------------
def resume_argv(
    spec: agent_registry.AgentSpec, vendor_session: str | None, *, resume: bool
) -> tuple[list[str], str]:
    """The TUI command for a restart and ``how``: the ``resume`` flags with the vendor
    session id when one is known, else the ``continue`` flags, else fresh."""
    base = list(spec.command)
    if not resume:
        return base, "fresh: resume was false"
    if vendor_session and spec.resume:
        argv = [*base, *spec.resume, vendor_session]
        return argv, f"flags: {shlex.join(argv)}"
    if spec.continue_:
        argv = [*base, *spec.continue_]
        why = "no session id from its hooks" if spec.resume else "no resume flags"
        return argv, f"flags: {shlex.join(argv)} ({why})"
    return base, f"fresh: {spec.name} has no resume or continue flags in the registry"


async def _restart_terminal(ai: AiAgents, old: TerminalAiAgent, *, resume: bool) -> dict[str, Any]:
    spec = _spec_of(ai, old.spec.name) or old.spec
    row = await ai.keeper.store.get(old.id) if ai.keeper is not None else None
    argv, how = resume_argv(spec, row.session_id if row else None, resume=resume)
    view = await ai.relaunch_terminal(old, spec, argv, how)
    log.info("terminal agent %s restarted: %s", old.name, how)
    return {"id": view["id"], "name": view["name"], "resumed": how.startswith("flags"), "how": how}


# -- a restarted orchestrator ----------------------------------------------------------
async def revive(ai: AiAgents, store: SessionStore) -> int:
    """Bring back the ACP agents of the orchestrator before (see the module docstring);
    returns how many were started again."""
    try:
        specs = ai.registry()
    except ConfigError as exc:
        log.warning("ACP agents not brought back: the registry is broken: %s", exc.message)
        specs = {}
    started = 0
    for row in await store.rows(transport="acp"):
        if ai.find_acp(row.id) is not None:
            continue
        try:
            started += await _revive_one(ai, row, specs.get(row.agent))
        except Exception:  # one agent's failure must not keep the others away
            log.exception("bringing back ACP agent %s failed", row.name)
    if started:
        log.info("started again %d ACP agents of the orchestrator before", started)
    return started


async def _revive_one(ai: AiAgents, row: SessionRow, spec: agent_registry.AgentSpec | None) -> int:
    known = spec or agent_registry.AgentSpec(name=row.agent, label=row.agent, acp=("?",))
    agent = ai.new_acp(known, name=row.name, cwd=row.cwd, session=row.session, agent_id=row.id)
    agent.created_at = row.created_at
    agent.session_id = row.session_id
    agent.can_load = row.load_session
    if row.worktree is not None:
        agent.worktree, agent.worktree_env = row.worktree, ai.worktree_env(row.worktree)
    ai.replace_acp(agent)
    if ai.keeper is not None:  # shown as it was: its row changes only when it runs again
        ai.keeper.shown.add(row.id)
    gone = "the orchestrator restarted; "
    if row.ended_state is not None:
        was = _FINAL.get(row.ended_state, AgentState.EXITED)
        ended = row.ended_reason or row.ended_state
        agent.dormant(was, f"{ended} (before the orchestrator restarted)")
        return 0
    if spec is None:
        agent.dormant(AgentState.EXITED, f"{gone}{row.agent} is no longer in the agent registry")
        return 0
    if not os.path.isdir(row.cwd):
        agent.dormant(AgentState.ERROR, f"{gone}its cwd {row.cwd} is gone")
        return 0
    if not row.load_session or row.session_id is None:
        why = (
            f"{row.agent} cannot load its session"
            if row.session_id is not None
            else f"{row.agent} had not opened a session"
        )
        agent.dormant(AgentState.EXITED, f"{gone}{why} — `agent.restart` starts it fresh")
        return 0
    if ai.keeper is not None:
        ai.keeper.shown.discard(row.id)
    agent.load_session_id = row.session_id
    agent.ready_reason = "restarted with the orchestrator"
    await agent.start()
    return 1
