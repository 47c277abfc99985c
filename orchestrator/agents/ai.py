"""AI agents (``agent.create {type: "ai", agent: <registry name>}``), beside the typed panes.

- ``transport: "acp"`` (the default where the registry entry has an ACP command): an
  ``AcpAgent`` — a subprocess this orchestrator speaks ACP to. It lives as long as this
  orchestrator (a stdio pipe cannot be re-attached); its terminals are tmux panes.
- ``transport: "terminal"``: the CLI's own TUI in a tmux pane, made as any agent pane
  (``meta`` ``{agent: true, ai: <name>, transport: "terminal"}``); its state is the pane's
  (process alive/exited) plus output activity. Hooks and screen patterns are not wired yet.

Watchers (``agent.watch``) receive ``agent.state``, ``agent.update``, ``agent.turn``,
``agent.permission`` and ``agent.permission_closed`` notifications for every ACP agent.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.agents import AGENT, AgentManager, TerminalsGetter, _check_cwd
from orchestrator.agents import registry as agent_registry
from orchflow_core.errors import InvalidArgumentError, NotFoundError, UnavailableError

if TYPE_CHECKING:  # the ACP SDK is imported on the first ACP agent (orchestrator extra)
    from orchestrator.agents.acp_client import AcpAgent
    from orchestrator.mcp.client.spec import ServerSpec

log = logging.getLogger(__name__)

WATCH_TOPIC = "agents"
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
        mcp_servers: Callable[[], list[ServerSpec]] = list,
    ) -> None:
        """``mcp_servers()``: the user's MCP servers, passed to ACP agents at session/new."""
        self._panes = panes
        self._terminals = terminals
        self._publish = publish
        self._user_registry = user_registry
        self._mcp_servers = mcp_servers
        self._agents: dict[str, AcpAgent] = {}

    @property
    def count(self) -> int:
        return sum(not a.final for a in self._agents.values())

    def registry(self) -> dict[str, agent_registry.AgentSpec]:
        return agent_registry.load(self._user_registry())

    def _notify(self, method: str, params: dict[str, Any]) -> None:
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
    ) -> dict[str, Any]:
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
        if transport == "terminal":
            return await self._create_terminal(spec, argv, name, workdir, session, prompt)
        live = self.find(name)
        if live is not None and not live.final:
            raise InvalidArgumentError(f"an agent named {name!r} runs already", param="name")
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
        )
        self._agents[acp_agent.id] = acp_agent
        await acp_agent.start()
        view = acp_agent.view()
        if prompt is not None:
            view["turn_id"] = acp_agent.prompt(prompt).turn_id
        log.info("ACP agent %s (%s) started: pid %s in %s", name, agent, acp_agent.pid, workdir)
        return view

    async def _create_terminal(
        self,
        spec: agent_registry.AgentSpec,
        argv: tuple[str, ...],
        name: str,
        cwd: str,
        session: str | None,
        prompt: str | None,
    ) -> dict[str, Any]:
        tm = await self._panes.tm()
        await tm.refresh()
        pane = await tm.new_pane(
            pane_type="ai",
            command=shlex.join(argv),
            name=name,
            cwd=cwd,
            session=session,
            env=spec.env or None,
            meta={AGENT: True, "source": "registry", "ai": spec.name, "transport": "terminal"},
        )
        if prompt is not None:
            await tm.send(pane["id"], prompt, enter=True)
        return {
            **self._panes.view(tm, tm.resolve(pane["id"])),
            "agent": spec.name,
            "transport": "terminal",
        }

    async def _free_name(self, agent: str) -> str:
        tm = await self._panes.tm()
        taken = {r.name for r in tm.records()} | {a.name for a in self._agents.values()}
        n = 1
        while f"{agent}-{n}" in taken:
            n += 1
        return f"{agent}-{n}"

    async def stop(self, ref: str) -> dict[str, Any]:
        """Stop the agent; one that had already ended is forgotten (no longer listed)."""
        agent = self.get(ref)
        if agent.final:
            del self._agents[agent.id]
            return {**agent.view(), "stopped": True, "removed": True}
        await agent.stop()
        return {**agent.view(), "stopped": True, "removed": False}

    async def close(self) -> None:
        for agent in list(self._agents.values()):
            try:
                await agent.close()
            except Exception:  # keep stopping the others; the log has it
                log.exception("stopping agent %s failed", agent.name)
