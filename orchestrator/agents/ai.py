"""AI agents (``agent.create {type: "ai", agent: <registry name>}``), beside the typed panes.

- ``transport: "acp"`` (the default where the registry entry has an ACP command): an
  ``AcpAgent`` — a subprocess this orchestrator speaks ACP to. It lives as long as this
  orchestrator (a stdio pipe cannot be re-attached); its terminals are tmux panes.
- ``transport: "terminal"``: the CLI's own TUI in a tmux pane, made as any agent pane
  (``meta`` ``{agent: true, ai: <name>, transport: "terminal", hook_id}``), with the
  vendor's hooks wired per agent (hook_wiring.py) to ``agent.hook``; its state
  (terminal_ai.py) comes from those hooks, then screen patterns, then quiescence. A
  restarted orchestrator re-attaches to them (state ``starting`` until the next signal).

``agent.restart`` and a restarted orchestrator bring agents back with their conversation
where the agent can (orchestrator/agents/resume.py; rows in ``agent_sessions``).

Watchers (``agent.watch``) receive ``agent.state``, ``agent.update``, ``agent.turn``,
``agent.permission`` and ``agent.permission_closed`` notifications for every ACP agent,
and ``agent.state`` (with ``transport: "terminal"``, ``question``) for terminal ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.agents import AGENT, AgentManager, TerminalsGetter, _check_cwd, hook_wiring
from orchestrator.agents import registry as agent_registry
from orchestrator.agents.terminal_ai import TerminalAiAgent
from orchflow_core.errors import (
    ConfigError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    UnavailableError,
)
from orchflow_core.events import Event
from orchflow_core.terminal.manager import PaneRecord, TerminalManager
from orchflow_core.terminal.state import PaneState

if TYPE_CHECKING:  # the ACP SDK is imported on the first ACP agent (orchestrator extra)
    from orchestrator.agents.acp_client import AcpAgent
    from orchestrator.agents.editor_fs import EditorFs
    from orchestrator.agents.resume import SessionKeeper
    from orchestrator.agents.session_store import SessionStore
    from orchestrator.mcp.client.spec import ServerSpec

log = logging.getLogger(__name__)

WATCH_TOPIC = "agents"
LOOK_TIMEOUT_S = 5.0  # one look at a terminal agent's pane, at most
Publisher = Callable[[str, str, dict[str, Any]], int]  # (topic, method, params)
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class AiAgents:
    def __init__(
        self,
        panes: AgentManager,
        terminals: TerminalsGetter,
        publish: Publisher,
        user_registry: Callable[[], Any],
        *,
        state_dir: Path | None = None,
        discovery_file: Path | None = None,
        mcp_servers: Callable[[], list[ServerSpec]] = list,
        editor_fs: EditorFs | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        """``mcp_servers()``: the user's MCP servers, passed to ACP agents at session/new.
        ``sessions``: where agents' session ids are kept for resuming (resume.py)."""
        self.keeper: SessionKeeper | None = None
        self._revival: asyncio.Task[None] | None = None
        self.restarting: set[str] = set()  # agent ids agent.restart works on
        if sessions is not None:
            from orchestrator.agents.resume import SessionKeeper

            self.keeper = SessionKeeper(self, sessions)
        self._panes = panes
        self._editor_fs = editor_fs  # fs/* of ACP agents through the editor's buffers
        self._terminals = terminals
        self._publish = publish
        self._user_registry = user_registry
        self._mcp_servers = mcp_servers
        self._agents: dict[str, AcpAgent] = {}
        panes.other_worktrees = self.worktree_metas  # their worktrees are in use, ports held
        self._tui: dict[str, TerminalAiAgent] = {}  # terminal agents, by pane orchflow id
        self._looks: set[asyncio.Task[None]] = set()  # looks at their panes (_look_soon)
        self._state_dir = state_dir  # per-agent hook files live in <state_dir>/agents/<id>
        self._discovery_file = discovery_file  # where the hook CLI finds us
        self._watching: TerminalManager | None = None
        panes.ai_view = self._tui_view
        panes.ai_stopped = self._tui_stopped

    def live_acp(self) -> list[AcpAgent]:
        """The ACP agents that have not ended."""
        return [a for a in self._agents.values() if not a.final]

    def views_with_worktree(self) -> list[AcpAgent]:
        """The ACP agents that have a worktree."""
        return [a for a in self._agents.values() if a.worktree]

    def worktree_metas(self) -> list[dict[str, Any]]:
        """The worktree meta (+ ``agent``) of every ACP agent that has one and is not
        removed."""
        return [{**a.worktree, "agent": a.name} for a in self._agents.values() if a.worktree]

    @property
    def count(self) -> int:
        return sum(not a.final for a in self._agents.values())

    # -- terminal agents -------------------------------------------------------------------
    def _hooks_dir(self, key: str) -> Path | None:
        return self._state_dir / "agents" / key if self._state_dir is not None else None

    def _tui_view(self, rec: PaneRecord) -> dict[str, Any] | None:
        agent = self._tui.get(rec.orchflow_id)
        if agent is None:
            return None
        if rec.state in (PaneState.EXITED, PaneState.CLOSED):
            code = f" (code {rec.exit_code})" if rec.exit_code is not None else ""
            agent.exited(f"its process ended{code}" if rec.state is PaneState.EXITED else "closed")
        return agent.fields()

    def _tui_stopped(self, rec: PaneRecord) -> None:
        agent = self._tui.get(rec.orchflow_id)
        if agent is not None:
            if self.keeper is not None:
                self.keeper.store.stopped(agent.id)
            agent.exited("stopped")
            directory = self._hooks_dir(agent.key)
            if directory is not None:
                hook_wiring.remove(directory)

    def _on_pane(self, event: Event) -> None:
        """pane.state / pane.closed: a terminal agent's process ended or its pane went."""
        agent = self._tui.get(str(event.data.get("id")))
        if agent is None:
            return
        if event.kind == "pane.closed":
            agent.exited("its pane was closed")
        elif event.data.get("state") == PaneState.EXITED.value:
            agent.exited(f"its process ended (code {event.data.get('exit_code')})")

    def _watch_panes(self, tm: TerminalManager) -> None:
        if self._watching is not tm:
            self._watching = tm
            tm.events.subscribe(self._on_pane, kinds={"pane.state", "pane.closed"})

    def find_tui(self, ref: str) -> TerminalAiAgent | None:
        """The terminal agent whose hook id, id, name or tmux pane id is ``ref``."""
        for agent in self._tui.values():
            if ref in (agent.key, agent.id, agent.pane_id):
                return agent
        named = [a for a in self._tui.values() if a.name == ref and not a.final]
        return named[0] if named else None

    def hook(self, ref: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """agent.hook: one vendor hook event for terminal agent ``ref`` (its hook id)."""
        agent = self.find_tui(ref)
        if agent is None:
            raise NotFoundError(
                f"no terminal AI agent with hook id {ref!r} (it may have been stopped, or "
                "belong to another orchestrator)",
                id=ref,
            )
        if self.keeper is not None:
            self.keeper.hook(agent, payload)
        return agent.hook(event, payload)

    async def attach_terminals(self) -> int:
        """Follow the terminal agents an earlier orchestrator started (their panes outlive
        it); each is ``starting`` until its next hook, pattern or quiet period."""
        tm = await self._panes.tm()
        self._watch_panes(tm)
        try:
            specs = self.registry()
        except ConfigError as exc:  # the user's [agents] is broken: agent.create says so
            log.warning("terminal agents not re-attached: %s", exc.message)
            return 0
        found = 0
        for rec in tm.records(meta_key=AGENT):
            meta = rec.meta
            key = meta.get("hook_id")
            if (
                rec.orchflow_id in self._tui
                or meta.get("transport") != "terminal"
                or not isinstance(key, str)
                or meta.get("ai") not in specs
                or rec.state is not PaneState.IDLE
            ):
                continue
            raw = meta.get("hooks")
            hooks: dict[str, Any] = raw if isinstance(raw, dict) else {}
            wiring = hook_wiring.Wiring(
                str(hooks.get("wiring", "none")),
                events=list(hooks.get("events") or []),
                files=list(hooks.get("files") or []),
            )
            await self._follow(tm, rec, specs[meta["ai"]], key, wiring, backlog=False)
            found += 1
        if found:
            log.info("re-attached %d terminal AI agents", found)
        self._forget_stale_hook_dirs(tm)
        return found

    def _forget_stale_hook_dirs(self, tm: TerminalManager) -> None:
        """Hook files of agents whose panes are gone (closed from outside, tmux killed)."""
        root = self._state_dir / "agents" if self._state_dir is not None else None
        if root is None or not root.is_dir():
            return
        used = {r.meta.get("hook_id") for r in tm.records(meta_key=AGENT)}
        for directory in root.iterdir():
            if directory.name not in used:
                hook_wiring.remove(directory)
                log.info("removed the hook files of a gone agent: %s", directory)

    async def _follow(
        self,
        tm: TerminalManager,
        rec: PaneRecord,
        spec: agent_registry.AgentSpec,
        key: str,
        wiring: hook_wiring.Wiring,
        *,
        backlog: bool,
        reason: str | None = None,
    ) -> TerminalAiAgent:
        agent = TerminalAiAgent(
            pane=rec.orchflow_id,
            pane_id=rec.pane_id,
            name=rec.name,
            spec=spec,
            key=key,
            wiring=wiring,
            publish=self._notify,
            created_at=rec.created_at,
        )
        if not backlog:
            agent.state_reason = (
                reason or "re-attached: state unknown until a hook, pattern or quiet"
            )
            agent.transitions[-1]["reason"] = agent.state_reason  # its first state says why
        self._tui[agent.id] = agent
        agent.look = lambda: self._look_soon(tm, agent)
        sub = await tm.subscribe(rec.orchflow_id)
        if not backlog:  # what it printed before we came is not news
            while sub.get_nowait() is not None:
                pass
        agent.start(sub)
        return agent

    def _look_soon(self, tm: TerminalManager, agent: TerminalAiAgent) -> None:
        """One look at a terminal agent's pane after its output stopped: a process that
        ended is then a pane.state event (``_on_pane`` ends the agent) within a second,
        not at the next pane listing."""
        task = asyncio.get_running_loop().create_task(self._look(tm, agent))
        self._looks.add(task)
        task.add_done_callback(self._looks.discard)

    async def _look(self, tm: TerminalManager, agent: TerminalAiAgent) -> None:
        try:
            async with asyncio.timeout(LOOK_TIMEOUT_S):
                await tm.get(agent.id, observed=False)
        except (OrchflowError, TimeoutError) as exc:  # gone or tmux busy: the next look
            log.debug("looking at terminal agent %s's pane: %r", agent.name, exc)

    def registry(self) -> dict[str, agent_registry.AgentSpec]:
        return agent_registry.load(self._user_registry())

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        if self.keeper is not None and method == "agent.state":
            self.keeper.observe(params)
        self._publish(WATCH_TOPIC, method, params)

    def find(self, ref: str) -> AcpAgent | None:
        """The ACP agent ``ref`` (id or name; the newest of that name), or None."""
        if ref in self._agents:
            return self._agents[ref]
        named = [a for a in self._agents.values() if a.name == ref]
        return max(named, key=lambda a: a.created_at) if named else None

    def get(self, ref: str) -> AcpAgent:
        agent = self.find(ref)
        if agent is None:
            known = ", ".join(sorted(a.name for a in self._agents.values())) or "none"
            raise NotFoundError(f"no ACP agent {ref!r} (ACP agents: {known})", id=ref)
        return agent

    def views(self) -> list[dict[str, Any]]:
        return [a.view() for a in sorted(self._agents.values(), key=lambda a: a.created_at)]

    async def create(
        self,
        agent: str,
        *,
        transport: str | None,
        name: str | None,
        cwd: str | None,
        session: str | None,
        prompt: str | None,
        worktree: Any = None,
        resumable: bool = True,
    ) -> dict[str, Any]:
        """A new AI agent; in a worktree of its own (``worktree``: true, false or {branch?,
        base?}; absent: on when ``cwd`` is in a git repository, ``[worktree] ai``), removed
        again if the agent cannot start. ``resumable=False``: not kept in
        ``agent_sessions``, so a restarted orchestrator does not bring it back (the swarm's
        pooled agents: the pool that owned them ended with the process)."""
        specs = self.registry()
        spec = specs.get(agent)
        if spec is None:
            raise InvalidArgumentError(
                f"unknown agent {agent!r}; the registry has: {', '.join(specs)} "
                "(add one with [agents.<name>] in config.toml)",
                param="agent",
            )
        transport = transport or spec.transport
        if transport not in agent_registry.TRANSPORTS:
            raise InvalidArgumentError(
                f"transport must be acp or terminal, got {transport!r}", param="transport"
            )
        argv = spec.argv(transport)
        if not argv:
            raise InvalidArgumentError(
                f"agent {agent!r} has no {transport} command in the registry "
                f"(it has: {', '.join(spec.transports())})",
                param="transport",
            )
        if spec.executable(transport) is None:
            raise UnavailableError(
                f"agent {agent!r}: {argv[0]!r} is not on PATH (the {transport} command is "
                f"{' '.join(argv)!r}); install it or set [agents.{agent}] command in config.toml",
                feature="agents.acp" if transport == "acp" else "agents.terminal",
            )
        if prompt is not None and not prompt.strip():
            raise InvalidArgumentError("prompt is empty", param="prompt")
        workdir = _check_cwd(cwd, self._panes.project_root)
        name = name or await self._free_name(agent)
        if not set(name) <= _NAME_OK:
            raise InvalidArgumentError(
                f"name {name!r} must use letters, digits, - and _ only", param="name"
            )
        live = self.find(name)
        if live is not None and not live.final:
            raise InvalidArgumentError(f"an agent named {name!r} runs already", param="name")
        wt_spec = await self._panes.default_worktree(worktree, workdir)
        if wt_spec is None:
            return await self._start(
                spec, argv, transport, name, workdir, session, prompt, None, resumable=resumable
            )
        manager = self._panes.worktrees
        if manager is None:
            raise InvalidArgumentError("worktrees are not configured here", param="worktree")
        tm = await self._panes.tm()
        await tm.refresh()
        ws = await manager.create(
            tm, cwd=workdir, name=name, spec=wt_spec, held_ports=self._panes.held_ports(tm)
        )
        try:
            inside = os.path.normpath(os.path.join(ws["path"], ws["rel"]))
            return await self._start(
                spec, argv, transport, name, inside, session, prompt, ws, resumable=resumable
            )
        except BaseException:
            try:
                await manager.remove(tm, ws)
            except Exception:  # the agent's own failure is what the caller must hear
                log.exception("could not remove the worktree %s of a failed agent", ws["path"])
            raise
        finally:
            manager.settle_port(ws["port"])

    async def _start(
        self,
        spec: agent_registry.AgentSpec,
        argv: tuple[str, ...],
        transport: str,
        name: str,
        workdir: str,
        session: str | None,
        prompt: str | None,
        ws: dict[str, Any] | None,
        *,
        resumable: bool = True,
    ) -> dict[str, Any]:
        if transport == "terminal":
            return await self._create_terminal(spec, argv, name, workdir, session, prompt, ws)
        try:
            from orchestrator.agents.acp_client import AcpAgent
        except ImportError as exc:
            raise UnavailableError(
                f"ACP agents need the ACP SDK ({exc.name} is missing): "
                "pip install 'orchflow[orchestrator]'",
                feature="agents.acp",
            ) from None
        acp_agent = AcpAgent(
            spec=spec,
            name=name,
            cwd=workdir,
            session=session,
            terminals=self._terminals,
            publish=self._notify,
            mcp_servers=self._mcp_servers,
            editor_fs=self._editor_fs,
        )
        if ws is not None and self._panes.worktrees is not None:
            acp_agent.worktree = ws
            acp_agent.worktree_env = self._panes.worktrees.env(ws)
        self._agents[acp_agent.id] = acp_agent
        if self.keeper is not None and resumable:
            self.keeper.created(
                acp_agent.id, agent=spec.name, transport="acp", view=acp_agent.view()
            )
        try:
            await acp_agent.start()
        except BaseException:
            acp_agent.worktree = None  # create() removes it
            raise
        if self.keeper is not None:
            await self.keeper.store.flush()  # recorded before anyone hears of it
        view = acp_agent.view()
        if prompt is not None:
            view["turn_id"] = acp_agent.prompt(prompt).turn_id
        log.info("ACP agent %s (%s) started: pid %s in %s", name, spec.name, acp_agent.pid, workdir)
        return view

    async def _create_terminal(
        self,
        spec: agent_registry.AgentSpec,
        argv: tuple[str, ...],
        name: str,
        cwd: str,
        session: str | None,
        prompt: str | None,
        ws: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        tm = await self._panes.tm()
        self._watch_panes(tm)
        await tm.refresh()
        if any(r.name == name for r in tm.records()):
            raise InvalidArgumentError(f"a pane named {name!r} exists already", param="name")
        live = {r.orchflow_id for r in tm.records()}
        for gone in [i for i, a in self._tui.items() if a.final and i not in live]:
            del self._tui[gone]  # ended and its pane closed: nothing shows it any more
        key = uuid.uuid4().hex[:16]
        directory = self._hooks_dir(key)
        wiring = hook_wiring.Wiring("none", env={"ORCHFLOW_AGENT": key})
        if directory is not None and self._discovery_file is not None:
            wiring = hook_wiring.wire(
                spec,
                key=key,
                agent_dir=directory,
                discovery_file=self._discovery_file,
                environ=dict(os.environ),
            )
        meta: dict[str, Any] = {
            AGENT: True,
            "source": "registry",
            "ai": spec.name,
            "transport": "terminal",
            "hook_id": key,
            "hooks": wiring.to_dict(),
        }
        env = {**spec.env, **wiring.env}
        if ws is not None and self._panes.worktrees is not None:
            meta["worktree"] = ws
            env.update(self._panes.worktrees.env(ws))
        try:
            pane = await tm.new_pane(
                pane_type="ai",
                command=shlex.join([*argv, *wiring.args]),
                name=name,
                cwd=cwd,
                session=session,
                env=env,
                meta=meta,
            )
        except BaseException:
            if directory is not None:
                hook_wiring.remove(directory)
            raise
        rec = tm.resolve(pane["id"])
        agent = await self._follow(tm, rec, spec, key, wiring, backlog=True)
        if self.keeper is not None:
            self.keeper.created(agent.id, agent=spec.name, transport="terminal", view=pane)
        log.info(
            "terminal agent %s (%s) in pane %s; hooks: %s",
            name,
            spec.name,
            rec.pane_id,
            wiring.wiring,
        )
        if prompt is not None:
            await tm.send(pane["id"], prompt, enter=True)
        return {**self._panes.view(tm, rec), "agent": agent.spec.name, "transport": "terminal"}

    async def _free_name(self, agent: str) -> str:
        tm = await self._panes.tm()
        taken = {r.name for r in tm.records()} | {a.name for a in self._agents.values()}
        n = 1
        while f"{agent}-{n}" in taken:
            n += 1
        return f"{agent}-{n}"

    async def stop(
        self, ref: str, *, remove_worktree: bool = False, force: bool = False
    ) -> dict[str, Any]:
        """Stop the agent; one that had already ended is forgotten (no longer listed). With
        ``remove_worktree``, its worktree goes too, as for a pane agent (uncommitted
        changes refuse it, before anything stops, unless ``force``)."""
        agent = self.get(ref)
        ws = agent.worktree
        manager = self._panes.worktrees
        if remove_worktree and ws is None:
            raise InvalidArgumentError(
                f"agent {agent.name} has no worktree to remove", param="remove_worktree"
            )
        if remove_worktree and ws is not None and manager is not None and not force:
            dirty = await manager.dirty(ws)
            if dirty:
                raise ConflictError(
                    f"agent {agent.name}'s worktree {ws['path']} has uncommitted changes "
                    f"({', '.join(dirty[:5])}{', ...' if len(dirty) > 5 else ''}); commit or "
                    "review them, or stop with force: true to discard them",
                    id=agent.id,
                    paths=dirty[:50],
                )
        removed = agent.final
        if removed:
            del self._agents[agent.id]
        else:
            await agent.stop()
        if self.keeper is not None:
            self.keeper.store.stopped(agent.id)
            await self.keeper.store.flush()  # a crash right after must not bring it back
        out = {**agent.view(), "stopped": True, "removed": removed}
        if remove_worktree and ws is not None and manager is not None:
            out["worktree"] = {**(out["worktree"] or {}), **await manager.remove(
                await self._panes.tm(), ws)}  # fmt: skip
            agent.worktree = None
        return out

    async def close(self) -> None:
        if self.keeper is not None:  # they end with us, but come back with the next one
            self.keeper.closing = True
        for tui in self._tui.values():  # their panes live on; a new orchestrator re-attaches
            tui.close()
        for agent in list(self._agents.values()):
            try:
                await agent.close()
            except Exception:  # keep stopping the others; the log has it
                log.exception("stopping agent %s failed", agent.name)
        if self.keeper is not None:
            await self.keeper.store.close()

    # -- resuming (orchestrator/agents/resume.py) ------------------------------------------
    async def restart(self, ref: str, *, resume: bool = True) -> dict[str, Any]:
        """agent.restart: {id, name, resumed, how}."""
        from orchestrator.agents import resume as resuming

        return await resuming.restart(self, ref, resume=resume)

    async def revived(self) -> None:
        """The ACP agents of the orchestrator before this one, back (resume.revive): done
        once, by the first caller; the others wait for it."""
        if self._revival is None:
            self._revival = asyncio.get_running_loop().create_task(self._revive())
        await asyncio.shield(self._revival)

    async def _revive(self) -> None:
        if self.keeper is None:
            return
        from orchestrator.agents import resume as resuming

        try:
            await resuming.revive(self, self.keeper.store)
        except OrchflowError as exc:  # the database: they stay away, the log says why
            log.error("the ACP agents of the last orchestrator did not come back: %s", exc.message)

    def find_acp(self, agent_id: str) -> AcpAgent | None:
        return self._agents.get(agent_id)

    def new_acp(
        self,
        spec: agent_registry.AgentSpec,
        *,
        name: str,
        cwd: str,
        session: str | None,
        agent_id: str,
    ) -> AcpAgent:
        """An ACP agent under an earlier one's id (not started, not yet listed)."""
        from orchestrator.agents.acp_client import AcpAgent

        return AcpAgent(
            spec=spec,
            name=name,
            cwd=cwd,
            session=session,
            terminals=self._terminals,
            publish=self._notify,
            mcp_servers=self._mcp_servers,
            editor_fs=self._editor_fs,
            agent_id=agent_id,
        )

    def replace_acp(self, agent: AcpAgent) -> None:
        """List ``agent`` under its id (in place of the one it restarts)."""
        self._agents[agent.id] = agent

    def worktree_of(self, agent_id: str) -> dict[str, Any] | None:
        acp = self._agents.get(agent_id)
        if acp is not None:
            return acp.worktree
        tm = self._watching
        try:
            rec = tm.resolve(agent_id) if tm is not None else None
        except OrchflowError:
            return None
        ws = rec.meta.get("worktree") if rec is not None else None
        return ws if isinstance(ws, dict) else None

    def worktree_env(self, ws: dict[str, Any]) -> dict[str, str]:
        manager = self._panes.worktrees
        return manager.env(ws) if manager is not None else {}

    async def relaunch_terminal(
        self, old: TerminalAiAgent, spec: agent_registry.AgentSpec, argv: list[str], how: str
    ) -> dict[str, Any]:
        """Run terminal agent ``old``'s TUI again in its pane (what runs there is killed
        first), as ``argv`` with its hooks wired again; the agent's id and name stay."""
        tm = await self._panes.tm()
        self._watch_panes(tm)
        await tm.refresh()
        try:
            rec = tm.resolve(old.id)
        except NotFoundError:
            rec = None
        if rec is None or rec.state is PaneState.CLOSED:
            raise ConflictError(
                f"terminal agent {old.name}'s pane is gone: nothing to restart in; create a "
                "new agent",
                id=old.id,
            )
        directory = self._hooks_dir(old.key)
        wiring = old.wiring
        if directory is not None and self._discovery_file is not None:
            wiring = hook_wiring.wire(
                spec,
                key=old.key,
                agent_dir=directory,
                discovery_file=self._discovery_file,
                environ=dict(os.environ),
            )
        env = {**spec.env, **wiring.env}
        ws = rec.meta.get("worktree")
        if isinstance(ws, dict):
            env.update(self.worktree_env(ws))
        old.close()
        await tm.respawn(rec.orchflow_id, shlex.join([*argv, *wiring.args]), env=env)
        await tm.set_meta(rec.orchflow_id, hooks=wiring.to_dict())
        await self._follow(
            tm, rec, spec, old.key, wiring, backlog=False, reason=f"restarted ({how})"
        )
        if self.keeper is not None:
            self.keeper.store.live_again(old.id)
        return self._panes.view(tm, rec)

    async def pane_view(self, ref: str) -> dict[str, Any]:
        """The pane agent ``ref`` as agent.get shows it (NotFoundError if none)."""
        return await self._panes.get(ref)
