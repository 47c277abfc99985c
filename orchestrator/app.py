"""The orchestrator service: wires the core, memory, agents, streams and metrics to RpcServer.

Start-up order (what "ready" means): open the state and memory databases, listen, then
write the discovery file; only then is tmux started (in the background: agents re-attach
and the first ``agent.create`` does not pay for it). A missing tmux leaves memory and the
rest working, and the features that need it say why they are unavailable.

Shutdown (SIGTERM, SIGINT, SIGHUP, ``system.shutdown``, or the ``--parent-pid`` process
dying): remove the discovery file, stop accepting, let in-flight requests finish (bounded),
close the databases; the unix socket is removed. Agents' panes keep running in tmux.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import functools
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import discovery
from orchestrator.coordination.breakers import BreakerRegistry
from orchestrator.coordination.locks import LockManager
from orchestrator.metrics import CONTENT_TYPE, RequestMetrics
from orchestrator.providers.manager import ProviderManager
from orchestrator.providers.streams import StreamedCompletions
from orchflow_core import __version__, paths
from orchflow_core.core import Core
from orchflow_core.errors import (
    ConflictError,
    NotFoundError,
    OrchflowError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.rpc.auth import new_token, parse_listen
from orchflow_core.rpc.server import ConnectionContext, RpcServer

if TYPE_CHECKING:
    from websockets.http11 import Request

    from orchestrator.agents import AgentManager
    from orchestrator.agents.ai import AiAgents
    from orchestrator.coordination.scheduler import Scheduler
    from orchestrator.executors.base import Executor
    from orchestrator.mcp.client.manager import McpClients
    from orchestrator.mcp.http import McpHttp
    from orchestrator.memory import MemoryStore
    from orchestrator.saved_sessions import SavedSessions
    from orchestrator.streams import StreamHub
    from orchestrator.swarm.runner import SwarmManager
    from orchflow_core.mux.stream import OutputSubscription
    from orchflow_core.rpc.http import HttpRequest, HttpResponse
    from orchflow_core.store.database import Database
    from orchflow_core.terminal.manager import TerminalManager

log = logging.getLogger(__name__)

SOCKET_NAME = "orchestrator.sock"
MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
DEFAULT_DRAIN_S = 5.0
DEFAULT_TMUX_START_S = 10.0
DEFAULT_STORES_OPEN_S = 10.0
NOT_BUILT: tuple[str, ...] = ()


def default_listen() -> str:
    """A unix socket in the runtime dir (file permissions guard it as well as the token),
    or ``127.0.0.1:0`` where that path would be too long for a socket address."""
    path = paths.runtime_dir() / SOCKET_NAME
    return f"unix:{path}" if len(str(path)) < MAX_UNIX_PATH else "127.0.0.1:0"


@dataclass
class Options:
    listen: str = ""  # "" = default_listen()
    discovery_file: Path | None = None  # None = discovery.default_path()
    allow_remote: bool = False
    allowed_hosts: tuple[str, ...] = ()
    state_dir: Path = field(default_factory=paths.state_dir)
    project_root: Path = field(default_factory=Path.cwd)
    parent_pid: int | None = None
    mode: str = "service"
    drain_s: float = DEFAULT_DRAIN_S
    idle_after_s: float = 1.0
    core_overrides: dict[str, Any] = field(default_factory=dict)  # over config.toml


class Orchestrator:
    """One orchestrator process. ``await run()`` serves until asked to stop."""

    def __init__(self, options: Options) -> None:
        options.listen = options.listen or default_listen()
        self.discovery_file = options.discovery_file or discovery.default_path()
        self.options = options
        self.token = new_token()
        self.metrics = RequestMetrics()
        self.started_at = time.time()
        self.core = Core(
            options.core_overrides, project_root=options.project_root, role="orchestrator"
        )
        if self.core.log_error is not None:  # say it where the operator looks
            print(f"orchflow-orchestrator: {self.core.log_error.message}", file=sys.stderr)
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()  # set once listening with the discovery file written
        self.state_db: Database | None = None
        self.memory: MemoryStore | None = None
        self.memory_error: str | None = None
        self.agents: AgentManager | None = None
        self.ai_agents: AiAgents | None = None
        from orchestrator.agents.editor_fs import EditorFs

        self.editor_fs = EditorFs()  # ACP fs/* through the attached Neovim's buffers
        self.saved: SavedSessions | None = None
        self.streams: StreamHub | None = None
        self.server: RpcServer | None = None
        self.tmux_error: str | None = None
        self.tmux_ready = False
        self._warmup: asyncio.Task[None] | None = None
        self._stores: asyncio.Task[None] | None = None
        self.breakers = BreakerRegistry()  # every named breaker (coordination/breakers.py)
        self.locks = LockManager()  # written through to orchestrator.db once it is open
        self.scheduler: Scheduler | None = None
        self.scheduler_error: str | None = None
        self.swarm_manager: SwarmManager | None = None
        self.executor: Executor | None = None
        self._executor_connect: asyncio.Task[None] | None = None
        self._mcp: McpHttp | None = None  # /mcp, made on its first request (the SDK: ~1 s)
        self._mcp_lock = asyncio.Lock()
        self._mcp_task: asyncio.Task[None] | None = None
        self._providers: ProviderManager | None = None  # AI providers (orchestrator/providers)
        self.ai_streams = StreamedCompletions()
        self.provider_manager()  # its breakers show in system.health from the start
        self._mcp_clients: McpClients | None = None  # [mcp.servers.*], made on first use

    # -- parts -------------------------------------------------------------------------
    async def terminals(self) -> TerminalManager:
        """The started TerminalManager; UnavailableError saying why when tmux cannot run."""
        binary = self.core.config["tmux"]["binary"] or "tmux"
        if shutil.which(binary) is None:
            self.tmux_error = f"tmux not found ({binary!r} is not on PATH)"
            raise UnavailableError(self.tmux_error, feature="terminals")
        try:
            async with asyncio.timeout(DEFAULT_TMUX_START_S):
                tm = await self.core.terminals()
        except TimeoutError:
            self.tmux_error = f"tmux did not start within {DEFAULT_TMUX_START_S}s"
            raise TimeoutError_(self.tmux_error, feature="terminals") from None
        except OrchflowError as exc:
            self.tmux_error = exc.message
            raise
        self.tmux_error, self.tmux_ready = None, True
        return tm

    async def _stores_open(self) -> None:
        """Wait (bounded) until the databases opened after ready are open."""
        assert self._stores is not None, "start() first"
        if not self._stores.done():
            try:
                async with asyncio.timeout(DEFAULT_STORES_OPEN_S):
                    await asyncio.shield(self._stores)
            except TimeoutError:
                raise TimeoutError_(
                    f"the state databases did not open within {DEFAULT_STORES_OPEN_S}s"
                ) from None
        self._stores.result()  # re-raise a failure to open the state database

    async def memory_store(self) -> MemoryStore:
        await self._stores_open()
        if self.memory is None:
            raise UnavailableError(self.memory_error or "memory store not open", feature="memory")
        return self.memory

    async def agent_manager(self) -> AgentManager:
        await self._stores_open()
        assert self.agents is not None
        return self.agents

    async def ai_agent_manager(self) -> AiAgents:
        await self._stores_open()
        from orchflow_core.modules.registry import modules_of

        await modules_of(self.core)  # their contributed agents join the registry
        assert self.ai_agents is not None
        await self.ai_agents.revived()  # the ACP agents of the one before, back first
        return self.ai_agents

    def provider_manager(self) -> ProviderManager:
        """The [providers.*] of config.toml (a bad table is kept as its ``error``)."""
        if self._providers is None:
            from orchestrator.agents import registry

            self._providers = ProviderManager(
                self.core.config,
                breakers=self.breakers,
                project_root=self.options.project_root,
                terminals=self.terminals,
                agent_registry=lambda: registry.load(self.core.config.get("agents")),
            )
        return self._providers

    def _publish(self, topic: str, method: str, params: dict[str, Any]) -> int:
        if method == "agent.state":  # an agent that ended releases its locks (leases.py)
            from orchestrator.agents.leases import leases_of

            params = leases_of(self).on_agent_state(params)
        return self.server.publish(topic, method, params) if self.server is not None else 0

    def mcp_clients(self) -> McpClients:
        """The MCP servers orchflow is a client of (orchestrator/mcp/client/)."""
        if self._mcp_clients is None:
            from orchestrator.mcp.client.manager import for_app

            self._mcp_clients = for_app(self)
        return self._mcp_clients

    async def saved_sessions(self) -> SavedSessions:
        await self._stores_open()
        assert self.saved is not None
        return self.saved

    async def schedules(self) -> Scheduler:
        await self._stores_open()
        if self.scheduler is None:
            raise UnavailableError(self.scheduler_error or "not open", feature="scheduler")
        return self.scheduler

    async def swarms(self) -> SwarmManager:
        await self._stores_open()
        assert self.swarm_manager is not None
        return self.swarm_manager

    async def stream_hub(self) -> StreamHub:
        await self._stores_open()
        assert self.streams is not None
        return self.streams

    async def _open_stores(self) -> None:
        try:
            await asyncio.gather(self._open_state(), self._open_memory())
        finally:  # the state database failed to open: lock requests go on without it
            self.locks.open_requests()

    async def _open_memory(self) -> None:
        from orchestrator.memory import MemoryStore

        try:
            self.memory = await MemoryStore.open(self.options.state_dir / "memory.db")
        except OrchflowError as exc:
            self.memory_error = exc.message
            log.error("memory store unavailable: %s", exc.message)

    async def _open_state(self) -> None:
        from orchestrator.agents import AgentManager
        from orchestrator.agents.ai import AiAgents
        from orchestrator.agents.session_store import SessionStore
        from orchestrator.saved_sessions import SavedSessions
        from orchestrator.schema import open_state_db
        from orchestrator.streams import StreamHub
        from orchestrator.worktrees import Worktrees, WorktreeSettings

        paths.ensure_private_dir(self.options.state_dir)
        self.state_db = await open_state_db(
            self.options.state_dir, carry_agents=self._carry_legacy_agents
        )
        await self._open_locks(self.state_db)
        self.agents = AgentManager(
            self.terminals,
            self.options.project_root,
            idle_after_s=self.options.idle_after_s,
            breaker=self.breakers["agent.spawn"],
            worktrees=Worktrees(
                WorktreeSettings.from_config(self.core.config, self.options.state_dir)
            ),
        )
        from orchflow_core.modules.registry import contributed_agents

        self.ai_agents = AiAgents(
            self.agents,
            self.terminals,
            self._publish,
            # modules' agents (doc/modules.md), then the user's [agents.<name>] over them
            lambda: {**contributed_agents(self.core), **(self.core.config.get("agents") or {})},
            state_dir=self.options.state_dir,
            discovery_file=self.discovery_file,
            mcp_servers=lambda: self.mcp_clients().enabled_specs(),
            editor_fs=self.editor_fs,
            sessions=SessionStore(self.state_db),  # agent.restart, revive (resume.py)
        )
        self.saved = SavedSessions(self.state_db)
        self.streams = StreamHub(self._resolve_stream, self._subscribe_pane)
        await self._open_scheduler(self.state_db)
        await self._open_swarms(self.state_db)

    async def _open_locks(self, db: Database) -> None:
        """Write locks through to ``db`` and give back the previous run's (lock_restore.py);
        lock requests waited for this."""
        from orchestrator.coordination import lock_restore
        from orchestrator.coordination.lock_journal import LockJournal
        from orchestrator.coordination.lock_repository import LockRepository

        repo = LockRepository(db)
        self.locks.journal = LockJournal(repo)
        try:
            await lock_restore.restore(self.locks, repo)
        except OrchflowError as exc:  # the table is unreadable: new locks are still stored
            log.error("the locks held before the restart were not restored: %s", exc.message)
        self.locks.open_requests()

    async def _open_swarms(self, db: Database) -> None:
        from orchestrator.executors.choose import make_executor
        from orchestrator.executors.local import DEFAULT_PANE_IDLE_S
        from orchestrator.swarm.agent_pool import DEFAULT_IDLE_S as DEFAULT_AGENT_IDLE_S
        from orchestrator.swarm.agent_pool import DEFAULT_MAX_AGENTS
        from orchestrator.swarm.prompts import AgentPrompts
        from orchestrator.swarm.repository import SwarmRepository
        from orchestrator.swarm.runner import SwarmManager

        swarm_conf = self.core.config.get("swarm") or {}
        self.executor = make_executor(
            self.core.config.get("executor"),
            self.terminals,
            pane_idle_s=swarm_conf.get("pane_idle_s", DEFAULT_PANE_IDLE_S),
        )
        connect = getattr(self.executor, "connect", None)
        if connect is not None:  # Ray: connected off the loop thread, bounded; features say how
            self._executor_connect = asyncio.get_running_loop().create_task(
                self._connect_executor(connect)
            )
        manager = SwarmManager(
            SwarmRepository(db),
            self.executor,
            self.locks,
            out_dir=self.options.state_dir / "swarms",
            publish=self._publish,
            prompts=AgentPrompts(
                self.ai_agent_manager,
                idle_s=swarm_conf.get("agent_idle_s", DEFAULT_AGENT_IDLE_S),
                max_agents=int(swarm_conf.get("agent_pool_max", DEFAULT_MAX_AGENTS)),
            ),
        )
        await manager.open()  # swarms a killed orchestrator left: re-attached or settled
        self.swarm_manager = manager

    async def _connect_executor(
        self, connect: collections.abc.Callable[[], collections.abc.Awaitable[None]]
    ) -> None:
        try:
            await connect()
        except OrchflowError as exc:  # system.features and swarm.submit say it
            log.error("executor %s: %s", getattr(self.executor, "name", "?"), exc.message)

    async def _open_scheduler(self, db: Database) -> None:
        try:
            from orchestrator.coordination.scheduler import PaneJobRunner, Scheduler
        except ImportError as exc:  # croniter is in the orchestrator extra
            self.scheduler_error = (
                f"{exc.name or 'croniter'} is not installed (pip install 'orchflow[orchestrator]')"
            )
            log.error("scheduler unavailable: %s", self.scheduler_error)
            return
        from orchestrator.swarm.schedule_jobs import ScheduleJobRunner

        scheduler = Scheduler(db, ScheduleJobRunner(PaneJobRunner(self.terminals), self.swarms))
        await scheduler.open()
        scheduler.start()  # its first tick applies each schedule's missed-run policy
        self.scheduler = scheduler

    async def _carry_legacy_agents(self, agents: list[dict[str, Any]]) -> None:
        """Agents recorded in orchestrator.db before version 2 become pane meta in
        orchflow.db (idempotent: a JSON merge)."""
        from orchflow_core.terminal.repository import PaneRepository

        panes = PaneRepository(await self.core.db())
        for agent in agents:
            await panes.set_meta(agent["id"], {"agent": True, "source": agent["source"]})
        log.info("carried %d agents of orchestrator.db into orchflow.db", len(agents))

    async def _resolve_stream(self, ref: str) -> tuple[str, str, str]:
        """(orchflow id, "agent"|"pane", tmux pane id) for an agent or pane reference."""
        tm = await self.terminals()
        try:
            rec = await tm.find(ref)
        except NotFoundError:
            raise NotFoundError(
                f"no agent or pane {ref!r}: give an agent id/name or a pane id/name", id=ref
            ) from None
        return rec.orchflow_id, "agent" if rec.meta.get("agent") else "pane", rec.pane_id

    async def _subscribe_pane(self, ref: str) -> OutputSubscription:
        return await (await self.terminals()).subscribe(ref)

    # -- facts -------------------------------------------------------------------------
    async def settled(self) -> None:
        """Wait (bounded) for the databases, so facts about them are not "still opening"."""
        try:
            await self._stores_open()
        except OrchflowError as exc:  # health and features report it (memory_error)
            log.debug("stores not open: %s", exc.message)

    async def health(self) -> dict[str, Any]:
        await self.settled()
        problems = []
        if self.memory is None:
            problems.append(f"memory: {self.memory_error}")
        if self.tmux_error:
            problems.append(f"terminals: {self.tmux_error}")
        problems.extend(self.breakers.problems())
        if self.stopping.is_set():
            problems.append("shutting down")
        entries = None
        if self.memory is not None:
            try:
                entries = await self.memory.count()
            except OrchflowError as exc:  # reported as null
                log.warning("health: cannot count memory entries: %s", exc.message)
        return {
            "status": "ok"
            if not problems
            else ("stopping" if self.stopping.is_set() else "degraded"),
            "problems": problems,
            "version": __version__,
            "pid": os.getpid(),
            "mode": self.options.mode,
            "uptime_s": round(time.time() - self.started_at, 3),
            "connections": self.metrics.connections,
            "agents": (self.agents.count if self.agents else 0)
            + (self.ai_agents.count if self.ai_agents else 0),
            "memory_entries": entries,
            "tmux": "ready" if self.tmux_ready else (self.tmux_error or "starting"),
            "breakers": self.breakers.snapshot(),
            "locks": dict(zip(("held", "waiting"), self.locks.counts(), strict=True)),
            "schedules": self.scheduler.counts()[0] if self.scheduler else None,
            "swarms": self.swarm_manager.counts() if self.swarm_manager else None,
        }

    def features(self) -> dict[str, dict[str, Any]]:
        def feature(status: str, reason: str | None = None, **extra: Any) -> dict[str, Any]:
            return {"status": status, "reason": reason, **extra}

        if self.tmux_ready:
            tmux = feature("implemented")
        elif self.tmux_error:
            tmux = feature("unavailable", self.tmux_error)
        else:
            tmux = feature("implemented", "tmux is starting")
        needs_tmux = (
            tmux
            if tmux["status"] == "implemented"
            else feature("unavailable", f"needs tmux: {self.tmux_error}")
        )
        memory = (
            feature("implemented", backend="sqlite")
            if self.memory is not None
            else feature("unavailable", self.memory_error)
        )
        out = {
            "rpc": feature(
                "implemented", transport=self.server.url.split(":")[0] if self.server else None
            ),
            "terminals": tmux,
            "agents": {
                **needs_tmux,
                "types": ["dev", "test", "repl", "build", "lint", "custom", "ai"],
            },
            "agents.acp": _acp_feature(needs_tmux),
            "agents.terminal": _terminal_agents_feature(needs_tmux),
            "sessions": needs_tmux,
            "sessions.save_restore": needs_tmux,
            "stream": needs_tmux,
            "memory": memory,
            "memory_fts": (
                feature("implemented", "SQLite FTS5 with a fuzzy fallback")
                if self.memory is not None
                else feature("unavailable", self.memory_error)
            ),
            "metrics": feature("implemented", path="/metrics"),
            "search": _rg_feature(),
            "files": feature("implemented", "ripgrep lists files when it is installed"),
            "history": feature("implemented", "frecency-ranked command history in SQLite"),
            "runs": {**needs_tmux, "sources": ["run", "typed", "agent"]},
            "tests": {
                **(
                    feature(
                        "partial",
                        "pytest and unittest (orchflow's result recorders), go test -json"
                        ", cargo test (libtest's text) and a Makefile test/check target (exit"
                        " code only), jest (--json) and vitest (its JSON reporter) run in a test"
                        " pane; the built-in module 'testing' (modules add test adapters)",
                    )
                    if needs_tmux["status"] == "implemented"
                    else needs_tmux
                ),
                "frameworks": ["pytest", "unittest", "jest", "vitest", "go", "cargo", "make"],
            },
            "shell_integration": _shell_feature(self.core.shell_integration()),
            "git": _git_feature(),
            "templates": feature(
                needs_tmux["status"],
                needs_tmux["reason"]
                or "tmuxp and tmuxinator files; apply reconciles (creates only what is"
                " missing, reports drift); freeze writes tmuxp YAML; snapshots of the running"
                " layout into SQLite (template.snapshot, every [templates] snapshot_minutes in"
                " the Neovim host) and template.restore; templates modules contribute"
                " (<module>:<name>); the built-in module 'templates'",
                formats=["tmuxp-yaml", "tmuxp-json", "tmuxinator-yaml"],
            ),
            "modules": feature(
                "implemented",
                "manifest.json modules (built-in, entry points, user dir, trusted project);"
                " validation naming the field; permissions checked when a module acts;"
                " methods, commands, templates, rules, agents, modes, settings"
                " ([modules.<name>]) and test adapters are used",
                kinds=["layout", "agent", "tool", "provider"],
            ),
            "worktrees": _worktree_feature(needs_tmux, self.core.config["worktree"]),
            "review": _review_feature(needs_tmux),
            "rules": feature(
                "implemented",
                "block, confirm or warn on every pane send and run (agent.send too); confirm"
                " refuses what cannot be asked (agents)",
                kinds=["shell", "regex"],
                origins=["user", "agent", "swarm", "schedule", "mcp"],
                problems=list(self.core.rules.problems),
            ),
            "mcp.server": _mcp_feature(),
            "mcp.client": _mcp_client_feature(self.core.config),
        }
        out["scheduler"] = (
            {
                **needs_tmux,
                "reason": "cron schedules (croniter, zoneinfo) persisted in SQLite; jobs run"
                " as runs in tmux panes"
                + (f"; {needs_tmux['reason']}" if needs_tmux["reason"] else ""),
            }
            if self.scheduler is not None
            else feature("unavailable", self.scheduler_error or "not open")
        )
        model = (self.core.config.get("router") or {}).get("model_provider")
        out["router"] = feature(
            "implemented",
            "ai.route / ai.feedback: learned feedback, then a weighted lexicon with typo"
            " correction; commands from the project files and history (the project's own"
            " type checker for type checking); the active mode leans it; "
            + (
                f"the model tier asks provider {model!r} when those are unsure (here, over"
                " the orchestrator's API)"
                if model
                else "no model tier ([router] model_provider unset)"
            ),
            tiers=["learned", "lexicon", *(["model"] if model else []), "none"],
        )
        out["providers"] = _providers_feature(self.provider_manager())
        out["modes"] = feature(
            "implemented",
            "mode.list/activate/current/deactivate: SPARC modes from TOML files (shipped, the"
            " user's modes/, the project's .orchflow/modes/), active per project in SQLite; the"
            " active mode leans ai.route, prefixes agent.prompt with its preamble and turns on"
            " its rules at the rules' choke point",
            shipped=["architect", "debug", "docs", "refactor", "review", "security", "tdd"],
        )
        out["locks"] = feature(
            "implemented",
            "shared/exclusive leases per connection, FIFO, deadlock refused; agents hold the"
            " locks they declare and their worktree's port (released when the agent's process"
            " ends), swarm tasks theirs; written through to orchestrator.db: after a restart"
            " re-attached agents and swarm tasks and mcp-http keep theirs with the lease left,"
            " connections' locks are gone",
        )
        out["breakers"] = feature(
            "implemented", "circuit breakers", names=sorted(self.breakers.snapshot())
        )
        out["swarm"] = {
            **needs_tmux,
            "reason": "swarm.submit/status/list/cancel/watch: task graphs (parallel, sequential,"
            " map, reduce, pipeline) of commands in pooled tmux panes, retries, timeouts, locks,"
            " persisted; prompt tasks go to ACP agents of the registry"
            "; prompt tasks reuse a pool of warm ACP agents, each task in a fresh session"
            " (crashed ones replaced, idle ones closed after [swarm] agent_idle_s); idle pool"
            " panes close after [swarm] pane_idle_s"
            + (f"; {needs_tmux['reason']}" if needs_tmux["reason"] else ""),
            "strategies": ["parallel", "sequential", "map", "reduce", "pipeline"],
            "agent_pool": self._agent_pool_view(),
        }
        out["executors"] = self._executors_feature(needs_tmux)
        for name in NOT_BUILT:
            out[name] = feature("unavailable", "not implemented in this version")
        return out

    def _agent_pool_view(self) -> dict[str, Any] | None:
        """The swarm's warm ACP agents now: {agents, busy, max_agents, idle_s, started,
        reused}; None before the stores opened."""
        prompts = self.swarm_manager.prompts if self.swarm_manager is not None else None
        view = getattr(prompts, "view", None)
        return view() if view is not None else None

    def _executors_feature(self, needs_tmux: dict[str, Any]) -> dict[str, Any]:
        """local (tmux panes) and ray (actors on a Ray cluster): which one runs swarm tasks
        and, for Ray, connected or why not."""
        active = self.executor.name if self.executor is not None else "local"
        if active != "ray":
            ray = 'unavailable: [executor] kind is "local" (set kind = "ray" and address)'
        else:
            why = getattr(self.executor, "unavailable", None)
            ray = "implemented" if why is None else f"unavailable: {why}"
        status = needs_tmux["status"] if active == "local" else ray.split(":")[0]
        reason = (
            f"swarm command tasks run on {active}: local (tmux panes) or ray (one Ray actor"
            " per task, placed by node label, output streamed back)"
        )
        if active == "local" and needs_tmux["reason"]:
            reason += f"; {needs_tmux['reason']}"
        if active == "ray" and ray != "implemented":
            reason += f"; ray {ray}"
        return {
            "status": status,
            "reason": reason,
            "active": active,
            "local": needs_tmux["status"],
            "ray": ray,
        }

    async def metrics_route(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        entries = None
        if self.memory is not None:
            try:
                entries = await self.memory.count()
            except OrchflowError as exc:  # the gauge is left out
                log.warning("metrics: cannot count memory entries: %s", exc.message)
        agents = (self.agents.count if self.agents else 0) + (
            self.ai_agents.count if self.ai_agents else 0
        )
        held, waiting = self.locks.counts()
        coordination = {
            "breakers": self.breakers.snapshot(),
            "locks_held": held,
            "lock_waiters": waiting,
            "schedules": self.scheduler.counts()[0] if self.scheduler else 0,
            "schedule_firings": self.scheduler.fired if self.scheduler else 0,
        }
        body = await asyncio.to_thread(
            self.metrics.render, agents=agents, memory_entries=entries, coordination=coordination
        )
        return 200, {"Content-Type": CONTENT_TYPE}, body

    async def mcp_route(self, request: HttpRequest) -> HttpResponse:
        """POST /mcp: Streamable HTTP MCP (orchestrator/mcp/http.py)."""
        from orchflow_core.rpc.http import plain

        if not _mcp_installed():
            return plain(503, f"unavailable: {_mcp_feature()['reason']}\n")
        if self._mcp is None:
            async with self._mcp_lock:
                if self._mcp is None and not self.stopping.is_set():
                    await self._start_mcp()
        if self._mcp is None:
            return plain(503, "server is shutting down\n")
        return await self._mcp.route(request)

    async def _start_mcp(self) -> None:
        from orchestrator.mcp.http import McpHttp

        mcp = McpHttp(self)
        started = asyncio.Event()

        async def hold() -> None:  # the SDK's task group is entered and left in one task
            async with mcp.running():
                started.set()
                await self.stopping.wait()

        self._mcp_task = asyncio.get_running_loop().create_task(hold())
        await started.wait()
        self._mcp = mcp

    # -- lifecycle ---------------------------------------------------------------------
    def _on_connect(self, ctx: ConnectionContext) -> None:
        self.metrics.connections += 1

    def _on_disconnect(self, ctx: ConnectionContext) -> None:
        self.metrics.connections -= 1

    async def start(self) -> None:
        """Open state, listen and write the discovery file (raises ConflictError if another
        orchestrator answers at the discovery file or holds the socket)."""
        from orchestrator.methods import build_lookup

        await self._refuse_if_running()
        self.server = RpcServer(
            build_lookup(self),
            token=self.token,
            listen=self.options.listen,
            allow_remote=self.options.allow_remote,
            allowed_hosts=self.options.allowed_hosts,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            http_routes={"/metrics": self.metrics_route},
            body_routes={"/mcp": self.mcp_route},
        )
        try:
            await self.server.start()
        except OSError as exc:
            raise UnavailableError(
                f"cannot listen on {self.options.listen}: {exc.strerror or exc}"
            ) from None
        discovery.write(
            self.discovery_file,
            discovery.Discovery(
                url=self.server.url,
                token=self.token,
                pid=os.getpid(),
                version=__version__,
                started_at=self.started_at,
                mode=self.options.mode,
            ),
        )
        log.info(
            "orchestrator %s ready on %s (pid %d, mode %s, discovery file %s)",
            __version__,
            self.server.url,
            os.getpid(),
            self.options.mode,
            self.discovery_file,
        )
        # The databases open once ready (no await since listening: no request can come
        # first); requests that need them wait for them (bounded), so being ready does not
        # wait for SQLite, FTS5 and the imports behind agents and memory.
        loop = asyncio.get_running_loop()
        self.locks.hold_requests()  # until the previous run's locks are restored
        self._stores = loop.create_task(self._open_stores())
        self._warmup = loop.create_task(self._warm_up())
        self.ready.set()

    async def _warm_up(self) -> None:
        from orchestrator.agents.leases import leases_of

        try:  # brings back the ACP agents live when the orchestrator before stopped
            await self.ai_agent_manager()
        except OrchflowError as exc:
            log.warning("AI agents unavailable: %s", exc.message)
        try:
            await (await self.agent_manager()).start()
            await (await self.ai_agent_manager()).attach_terminals()
            await leases_of(self).reattach(await self.agent_manager())
            leases_of(self).reattach_acp((await self.ai_agent_manager()).live_acp())
        except OrchflowError as exc:
            log.warning("terminals unavailable: %s", exc.message)
        except Exception:
            log.exception("starting tmux failed")
        finally:  # restored locks of agents not re-attached go (lock_restore.py)
            self.locks.settle()

    async def _refuse_if_running(self) -> None:
        path = self.discovery_file
        try:
            info: discovery.Discovery | None = discovery.read(path)
        except OrchflowError:
            info = None  # absent or unreadable: ours to (over)write
        alive = info is not None and info.pid != os.getpid() and discovery.pid_alive(info.pid)
        if info is not None and alive and await _answers(info):
            raise ConflictError(
                f"an orchestrator (pid {info.pid}) already serves {info.url} with "
                f"discovery file {path}; stop it or pass another --discovery-file",
                pid=info.pid,
            )
        address = parse_listen(self.options.listen, allow_remote=self.options.allow_remote)
        if address.path is not None:
            paths.ensure_private_dir(Path(address.path).parent)
            _remove_stale_socket(Path(address.path))

    async def run(self) -> None:
        """Serve until a signal, ``system.shutdown`` or the parent's death; then shut down."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        watcher = self._watch_parent() if self.options.parent_pid else None
        try:
            await self.start()
            await self.stopping.wait()
        finally:
            if watcher is not None:
                watcher()
            await self.shutdown()

    def request_stop(self, why: str) -> None:
        if not self.stopping.is_set():
            log.info("orchestrator stopping: %s", why)
            self.stopping.set()

    def _watch_parent(self) -> Any:
        """Stop when ``parent_pid`` dies: a pidfd becomes readable then (no polling)."""
        pid = self.options.parent_pid
        assert pid is not None
        loop = asyncio.get_running_loop()
        if not discovery.pid_alive(pid):
            self.request_stop(f"parent process {pid} is not running")
            return None
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            loop.add_reader(fd, self.request_stop, f"parent process {pid} exited")

            def stop_watching() -> None:
                loop.remove_reader(fd)
                os.close(fd)

            return stop_watching

        async def check() -> None:  # no pidfd (not Linux >= 5.3): a slow check
            while discovery.pid_alive(pid):  # noqa: ASYNC110 - a foreign pid has no event
                await asyncio.sleep(1.0)
            self.request_stop(f"parent process {pid} exited")

        task = loop.create_task(check())
        return task.cancel

    async def shutdown(self) -> None:
        """Idempotent graceful stop; panes in tmux are left running."""
        self.stopping.set()
        discovery.remove_if_ours(self.discovery_file, os.getpid())
        if self.server is not None:
            await self.server.close(timeout=self.options.drain_s)
        if self._mcp_task is not None:  # it ends once stopping is set
            await asyncio.wait({self._mcp_task}, timeout=self.options.drain_s)
            self._mcp_task.cancel()
        if self._stores is not None:
            await asyncio.wait({self._stores}, timeout=DEFAULT_STORES_OPEN_S)
        if self._warmup is not None:
            # Let a tmux start in progress finish, so core.close() can close what it opened:
            # cancelled half-way, it would leak a database thread that blocks the exit.
            await asyncio.wait({self._warmup}, timeout=DEFAULT_TMUX_START_S)
            self._warmup.cancel()
        if self.scheduler is not None:
            await self.scheduler.close()
        if self.swarm_manager is not None:  # their commands keep running in tmux
            await self.swarm_manager.close()
        if self._executor_connect is not None:
            self._executor_connect.cancel()
        if self.executor is not None:  # Ray: disconnects; its actors keep running
            try:
                async with asyncio.timeout(DEFAULT_STORES_OPEN_S):
                    await self.executor.close()
            except (TimeoutError, OrchflowError) as exc:
                log.warning("closing the executor: %r", exc)
        self.locks.close()
        leases = getattr(self, "_agent_leases", None)  # orchestrator/agents/leases.py
        if leases is not None:
            leases.close()
        await self.ai_streams.close()
        if self._providers is not None:
            await self._providers.aclose()
        if self._mcp_clients is not None:  # stdio MCP servers are this process's children
            await self._mcp_clients.close()
        if self.ai_agents is not None:  # ACP agents are this process's children
            await self.ai_agents.close()
        if self.agents is not None:
            await self.agents.close()
        try:
            await self.core.close()
        except Exception:  # keep stopping: the stores below still need closing
            log.warning("closing the core failed; stopping anyway", exc_info=True)
        if self.memory is not None:
            await self.memory.close()
        if self.locks.journal is not None:  # what is pending (agents that ended meanwhile)
            await self.locks.journal.close()
        if self.state_db is not None:
            await self.state_db.close()
        log.info("orchestrator stopped")


async def _answers(info: discovery.Discovery, *, timeout: float = 1.0) -> bool:  # noqa: ASYNC109
    from orchflow_core.rpc.client import RpcClient

    try:
        async with asyncio.timeout(timeout):
            client = await RpcClient.connect(info.url, info.token, timeout=timeout)
            async with client:
                await client.call("system.version")
    except (OrchflowError, TimeoutError, OSError):
        return False
    return True


def _remove_stale_socket(path: Path) -> None:
    """Unlink a socket file nobody listens on (left by a kill -9); ConflictError if in use."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConflictError(f"{path} exists and is not a socket; remove it or listen elsewhere")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        log.info("removed stale socket %s", path)
        return
    except OSError as exc:
        raise ConflictError(f"cannot check socket {path}: {exc}") from None
    finally:
        probe.close()
    raise ConflictError(f"another server listens on {path}; stop it or listen elsewhere")


@functools.cache
def _mcp_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("mcp") is not None


def _mcp_feature() -> dict[str, Any]:
    if not _mcp_installed():
        return {
            "status": "unavailable",
            "reason": "the MCP SDK (`mcp`) is not installed: pip install 'orchflow[orchestrator]'",
        }
    from orchestrator.mcp.tools import TOOLS

    return {
        "status": "implemented",
        "reason": None,
        "transports": ["stdio (orchflow-orchestrator mcp)", "streamable-http"],
        "path": "/mcp",
        "tools": [t.name for t in TOOLS],
    }


def _providers_feature(manager: ProviderManager) -> dict[str, Any]:
    """ai.complete / ai.cancel / ai.providers: which kinds exist, which are configured."""
    kinds = ["openai", "anthropic", "cli", "acp"]
    if manager.error is not None:
        return {"status": "unavailable", "reason": manager.error, "kinds": kinds}
    configured = sorted(manager.configs)
    return {
        "status": "implemented",
        "reason": "ai.complete (streamed: ai.delta, ai.tool, ai.done), ai.cancel, ai.providers;"
        " timeouts, retries honouring Retry-After, a circuit breaker per provider;"
        " openai and anthropic providers take the MCP servers' tools (cli and acp do not)"
        + ("" if configured else "; none configured: add [providers.<name>] to config.toml"),
        "kinds": kinds,
        "tool_kinds": ["openai", "anthropic"],
        "configured": configured,
        "default": manager.default,
    }


def _mcp_client_feature(config: dict[str, Any]) -> dict[str, Any]:
    """orchflow as an MCP client of [mcp.servers.<name>] (orchestrator/mcp/client/)."""
    if not _mcp_installed():
        return _mcp_feature()
    from orchestrator.mcp.client.spec import parse_all

    specs, errors = parse_all((config.get("mcp") or {}).get("servers") or {})
    return {
        "status": "implemented",
        "reason": "stdio and Streamable HTTP servers from [mcp.servers.<name>], started on"
        " demand, tools cached, calls behind a breaker and timeout_s; offered to ACP agents"
        " at session/new and their tools to ai.complete's openai and anthropic providers"
        " (ai.complete {tools} or [providers.<name>] tools; the loop is bounded by"
        " max_tool_rounds, each call behind the breaker, timeout_s and the rules)",
        "transports": ["stdio", "streamable-http"],
        "methods": ["mcp.list_servers", "mcp.list_tools", "mcp.call", "mcp.restart"],
        "servers": sorted(n for n, s in specs.items() if s.enabled),
        "problems": [errors[n] for n in sorted(errors)],
    }


def _rg_feature() -> dict[str, Any]:
    from orchflow_core.search.ripgrep import find_rg

    try:
        return {"status": "implemented", "reason": None, "rg": find_rg()}
    except OrchflowError as exc:
        return {"status": "unavailable", "reason": exc.message}


def _git_feature() -> dict[str, Any]:
    from orchflow_core.git.runner import feature

    return dict(feature())


def _worktree_feature(needs_tmux: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    """agent.create {worktree}: needs git and tmux (the setup script runs in a pane)."""
    git = _git_feature()
    if git["status"] != "implemented":
        return {"status": "unavailable", "reason": f"needs git: {git['reason']}"}
    if needs_tmux["status"] != "implemented":
        return dict(needs_tmux)
    return {
        "status": "implemented",
        "reason": "agent.create {worktree}: branch, worktree, .worktreeinclude, port, setup",
        "ports": [conf["port_min"], conf["port_max"]],
        "review": True,  # review.* (orchestrator/review/): see the "review" row
    }


def _review_feature(needs_tmux: dict[str, Any]) -> dict[str, Any]:
    """review.*: agents' worktrees (git, tmux) and git merge-tree --write-tree (2.38)."""
    git = _git_feature()
    if git["status"] != "implemented":
        return {"status": "unavailable", "reason": f"needs git: {git['reason']}"}
    if needs_tmux["status"] != "implemented":
        return dict(needs_tmux)
    version = tuple(int(p) for p in str(git["version"]).split(".")[:2])
    finish = ["merge", "squash", "rebase"] if version >= (2, 38) else []
    return {
        "status": "implemented" if finish else "partial",
        "reason": "review.open/accept/reject/comment/send/finish of an agent's worktree, hunk"
        " by hunk, byte-exact; overlaps between agents"
        + (
            ""
            if finish
            else f"; review.finish needs git >= 2.38 (merge-tree), not {git['version']}"
        ),
        "strategies": finish,
        "comments": "kept in orchestrator.db until review.send delivered them",
    }


def _acp_feature(needs_tmux: dict[str, Any]) -> dict[str, Any]:
    """ACP agents need the SDK (the orchestrator extra); their terminals need tmux."""
    import importlib.util

    if importlib.util.find_spec("acp") is None:
        return {
            "status": "unavailable",
            "reason": "the ACP SDK is not installed: pip install 'orchflow[orchestrator]'",
        }
    terminals = (
        "terminal/* run in tmux panes"
        if needs_tmux["status"] == "implemented"
        else f"terminal/* unavailable ({needs_tmux['reason']})"
    )
    return {
        "status": "implemented",
        "reason": "orchflow is the ACP client (initialize, session/new, session/prompt, "
        "session/cancel, session/update, request_permission, fs/* inside the cwd: through "
        "the attached Neovim's buffers when the file is loaded (unsaved edits read, writes one "
        f"undo step then saved), else the disk); {terminals}; "
        "agent.restart resumes with session/load where the agent offers it (terminal "
        "agents: their resume/continue flags), and a restarted orchestrator brings its ACP "
        "agents back, resumed or exited saying why; with several Neovims, fs/* go to the "
        "agent's creator, else an editor that has the file loaded",
        "methods": [
            "agent.prompt",
            "agent.cancel",
            "agent.answer",
            "agent.turns",
            "agent.watch",
            "agent.restart",
            "editor.attach",
            "editor.fs_reply",
        ],
        "login": "auth_required: authenticate by an env_var method whose variables are set, "
        "else state error saying how to log in (checked against real adapters: doc/agents.md)",
    }


def _terminal_agents_feature(needs_tmux: dict[str, Any]) -> dict[str, Any]:
    """Terminal AI agents: hooks (agent.hook), screen patterns and quiescence all work
    wherever tmux does; ``vendors`` are the registry entries whose hooks orchflow wires."""
    if needs_tmux["status"] != "implemented":
        return dict(needs_tmux)
    from orchestrator.agents import registry

    shipped = registry.load()
    return {
        "status": "implemented",
        "reason": "the agent CLI's own TUI in a tmux pane; state from the vendor's hooks "
        "(wired per agent: agent.hook via `orchflow-orchestrator hook`), then screen "
        "patterns, then output quiescence, each labelled with its source",
        "methods": ["agent.hook"],
        "vendors": {s.name: s.hook_wiring for s in shipped.values() if s.hook_wiring != "none"},
        "sources": ["hook", "pattern", "quiet", "process"],
        "patterns_checked": "Claude Code 2.1.197, Codex 0.171.0, Gemini CLI 0.61.0, opencode "
        "1.18.33 (first-run dialogs, working, idle; doc/agents.md 'Checked against')",
    }


def _shell_feature(status: str | None) -> dict[str, Any]:
    """Shell integration as the terminal backend reports it (bash, zsh and fish panes)."""
    shells = ["bash", "zsh", "fish"]
    if status is None:
        return {"status": "implemented", "reason": "known once tmux has started", "shells": shells}
    if status.startswith("off"):
        return {"status": "disabled", "reason": status.removeprefix("off: "), "shells": shells}
    return {"status": "implemented", "reason": f"default shell: {status}", "shells": shells}
