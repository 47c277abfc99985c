"""Agents: tmux panes with a type (dev, test, repl, build, lint, custom) running a command.

An agent's pane runs its command directly (``remain-on-exit`` keeps the pane, its output
and exit code after the command ends). Its state comes from one transition table::

    starting ──output──▶ running ──quiet──▶ idle ──output──▶ running
        │                   │                 │
        └──quiet──▶ idle    └────── exit ─────┴──▶ exited   (from any state; terminal)

- ``output``: the pane printed something (pushed by tmux, never polled);
- ``quiet``: nothing printed for ``idle_after_s`` while the process lives (waiting for
  input, a server with nothing to log, a finished REPL prompt);
- ``exit``: the pane's process ended (its exit code is kept) or the pane was closed.

Exit is seen when the quiet timer fires (a process that ends stops printing) and whenever a
caller asks (``list``, ``get``, ``send``, ``output``): one control-mode ``list-panes``.

Agents are recorded in ``orchestrator.db`` (id = the pane's ``@orchflow_id``), so a restarted
orchestrator re-attaches to the agents whose panes still run; panes outlive the
orchestrator (it never kills them on shutdown, only ``agent.stop`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
)
from orchflow_core.mux.stream import Gap
from orchflow_core.project.detect import AGENT_TYPES, detect_project_commands
from orchflow_core.store.database import Database
from orchflow_core.terminal.manager import TerminalManager

log = logging.getLogger(__name__)

DEFAULT_IDLE_AFTER_S = 1.0
DEFAULT_OUTPUT_LINES = 100
MAX_OUTPUT_LINES = 10_000

TerminalsGetter = Callable[[], Awaitable[TerminalManager]]


class AgentState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    IDLE = "idle"
    EXITED = "exited"


class AgentEvent(StrEnum):
    OUTPUT = "output"
    QUIET = "quiet"
    EXIT = "exit"


_S, _E = AgentState, AgentEvent
_TABLE: dict[tuple[AgentState, AgentEvent], AgentState] = {
    (_S.STARTING, _E.OUTPUT): _S.RUNNING,
    (_S.STARTING, _E.QUIET): _S.IDLE,
    (_S.RUNNING, _E.OUTPUT): _S.RUNNING,
    (_S.RUNNING, _E.QUIET): _S.IDLE,
    (_S.IDLE, _E.OUTPUT): _S.RUNNING,
    (_S.IDLE, _E.QUIET): _S.IDLE,
    (_S.STARTING, _E.EXIT): _S.EXITED,
    (_S.RUNNING, _E.EXIT): _S.EXITED,
    (_S.IDLE, _E.EXIT): _S.EXITED,
    (_S.EXITED, _E.EXIT): _S.EXITED,
    # Output drained after the exit was seen, or a timer that fired late: still exited.
    (_S.EXITED, _E.OUTPUT): _S.EXITED,
    (_S.EXITED, _E.QUIET): _S.EXITED,
}


def transition(state: AgentState, event: AgentEvent) -> AgentState:
    """The state after ``event``; the table is total, so this never raises for valid input."""
    return _TABLE[(state, event)]


@dataclass(slots=True)
class Agent:
    id: str
    type: str
    name: str
    command: str
    source: str | None
    cwd: str
    session: str
    pane_id: str
    created_at: float
    state: AgentState = AgentState.STARTING
    exit_code: int | None = None
    last_output_at: float | None = None
    closed: bool = False  # the pane itself is gone
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "command": self.command,
            "source": self.source,
            "cwd": self.cwd,
            "session": self.session,
            "pane_id": self.pane_id,
            "state": self.state.value,
            "exit_code": self.exit_code,
            "created_at": self.created_at,
            "last_output_at": self.last_output_at,
        }


class AgentManager:
    """Creates, tracks and stops agents. ``terminals()`` gives the started TerminalManager."""

    def __init__(
        self,
        terminals: TerminalsGetter,
        db: Database,
        project_root: Path,
        *,
        idle_after_s: float = DEFAULT_IDLE_AFTER_S,
    ) -> None:
        self._terminals = terminals
        self._db = db
        self.project_root = project_root
        self.idle_after_s = idle_after_s
        self._agents: dict[str, Agent] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._checks: set[asyncio.Task[None]] = set()

    @property
    def count(self) -> int:
        return sum(1 for a in self._agents.values() if not a.closed)

    # -- lifecycle -----------------------------------------------------------------------
    async def _tm(self) -> TerminalManager:
        """The terminal manager, after re-attaching to agents recorded before a restart."""
        tm = await self._terminals()
        if not self._loaded:
            async with self._load_lock:
                if not self._loaded:
                    await self._reattach(tm)
                    self._loaded = True
        return tm

    async def start(self) -> None:
        """Start tmux and re-attach recorded agents (raises if tmux is unavailable)."""
        await self._tm()

    async def _reattach(self, tm: TerminalManager) -> None:
        live = {p.orchflow_id: p for p in await tm.backend.list_panes()}
        rows = await self._db.fetchall("SELECT * FROM agents")
        gone = []
        for row in rows:
            info = live.get(row["id"])
            if info is None:
                gone.append(row["id"])
                continue
            agent = Agent(
                id=row["id"],
                type=row["type"],
                name=info.name or row["name"],
                command=row["command"],
                source=row["source"],
                cwd=row["cwd"],
                session=info.session,
                pane_id=info.pane_id,
                created_at=row["created_at"],
            )
            if info.dead:
                agent.exit_code = info.exit_code
                agent.state = AgentState.EXITED
            self._agents[agent.id] = agent
            await self._watch(tm, agent)
        if gone:
            await self._db.transaction(
                lambda conn: conn.executemany(
                    "DELETE FROM agents WHERE id = ?", [(g,) for g in gone]
                )
            )
        log.info("agents: %d re-attached, %d gone", len(self._agents), len(gone))

    async def close(self) -> None:
        """Stop watching (the agents' panes keep running in tmux)."""
        tasks = [a._watcher for a in self._agents.values() if a._watcher is not None]
        tasks += list(self._checks)
        for agent in self._agents.values():
            if agent._timer is not None:
                agent._timer.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- state -------------------------------------------------------------------------
    def _apply(self, agent: Agent, event: AgentEvent) -> None:
        new = transition(agent.state, event)
        if new is not agent.state:
            log.debug("agent %s: %s -> %s", agent.name, agent.state.value, new.value)
            agent.state = new

    def _arm_quiet_timer(self, agent: Agent, delay: float) -> None:
        if agent._timer is None and agent.state is not AgentState.EXITED:
            loop = asyncio.get_running_loop()
            agent._timer = loop.call_later(delay, self._on_timer, agent)

    def _on_output(self, agent: Agent) -> None:
        agent.last_output_at = time.time()
        self._apply(agent, AgentEvent.OUTPUT)
        self._arm_quiet_timer(agent, self.idle_after_s)

    def _on_timer(self, agent: Agent) -> None:
        agent._timer = None
        since = time.time() - (agent.last_output_at or agent.created_at)
        if since < self.idle_after_s:  # output came meanwhile: wait for the rest
            self._arm_quiet_timer(agent, self.idle_after_s - since)
            return
        task = asyncio.get_running_loop().create_task(self._quiet_check(agent))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _quiet_check(self, agent: Agent) -> None:
        """Quiet: the process is waiting, or it ended. Ask tmux which."""
        try:
            tm = await self._terminals()
            await self._refresh_one(tm, agent)
        except OrchflowError as exc:
            log.debug("quiet check of agent %s failed: %s", agent.name, exc.message)
        if agent.state is not AgentState.EXITED:
            self._apply(agent, AgentEvent.QUIET)

    async def _refresh_one(self, tm: TerminalManager, agent: Agent) -> None:
        if agent.state is AgentState.EXITED and agent.closed:
            return
        try:
            info = await tm.backend.get_pane(agent.pane_id)
        except NotFoundError:
            agent.closed = True
            self._apply(agent, AgentEvent.EXIT)
            return
        if info.orchflow_id != agent.id:  # the pane id was reused by another pane
            agent.closed = True
            self._apply(agent, AgentEvent.EXIT)
        elif info.dead:
            agent.exit_code = info.exit_code
            self._apply(agent, AgentEvent.EXIT)

    async def _refresh_all(self, tm: TerminalManager) -> None:
        """Update every agent from tmux; agents whose pane is gone are forgotten."""
        live = {p.orchflow_id: p for p in await tm.backend.list_panes()}
        for agent in list(self._agents.values()):
            info = live.get(agent.id)
            if info is None:
                agent.closed = True
                self._apply(agent, AgentEvent.EXIT)
                await self._forget(agent)
            else:
                agent.pane_id, agent.session, agent.name = info.pane_id, info.session, info.name
                if info.dead:
                    agent.exit_code = info.exit_code
                    self._apply(agent, AgentEvent.EXIT)

    async def _watch(self, tm: TerminalManager, agent: Agent) -> None:
        sub = await tm.backend.subscribe(agent.pane_id)

        async def pump() -> None:
            try:
                async for item in sub:
                    if not isinstance(item, Gap):
                        self._on_output(agent)
            finally:
                sub.close()
            agent.closed = True  # the stream ends when the pane is gone
            self._apply(agent, AgentEvent.EXIT)

        agent._watcher = asyncio.get_running_loop().create_task(pump())
        self._arm_quiet_timer(agent, self.idle_after_s)

    # -- API ---------------------------------------------------------------------------
    def resolve(self, ref: str) -> Agent:
        """An agent by id or by unique name; NotFoundError lists the known ones."""
        agent = self._agents.get(ref)
        if agent is not None:
            return agent
        named = [a for a in self._agents.values() if a.name == ref and not a.closed]
        if len(named) == 1:
            return named[0]
        known = ", ".join(sorted(a.name for a in self._agents.values())) or "none"
        raise NotFoundError(f"no agent {ref!r} (agents: {known})", id=ref)

    async def create(
        self,
        agent_type: str,
        *,
        name: str | None = None,
        command: str | None = None,
        cwd: str | None = None,
        session: str | None = None,
    ) -> dict[str, Any]:
        if agent_type not in AGENT_TYPES:
            raise InvalidArgumentError(
                f"type must be one of {', '.join(AGENT_TYPES)}, got {agent_type!r}", param="type"
            )
        workdir = _check_cwd(cwd, self.project_root)
        source: str | None = None
        if command is not None and not command.strip():
            raise InvalidArgumentError("command is empty", param="command")
        if command is None:
            if agent_type == "custom":
                raise InvalidArgumentError(
                    "custom agents have no default command: give one in 'command'",
                    param="command",
                )
            found = await asyncio.to_thread(detect_project_commands, workdir)
            default = found.commands[agent_type]
            if default.command is None:
                raise InvalidArgumentError(
                    f"no {agent_type} command found: {default.reason}; give one in 'command'",
                    param="command",
                    type=agent_type,
                    cwd=workdir,
                )
            command, source = default.command, default.source
        tm = await self._tm()
        if name is None:
            name = self._free_name(tm, agent_type)
        pane = await tm.new_pane(
            pane_type=agent_type, command=command, name=name, cwd=workdir, session=session
        )
        agent = Agent(
            id=pane["id"],
            type=agent_type,
            name=pane["name"],
            command=command,
            source=source,
            cwd=workdir,
            session=pane["session"],
            pane_id=pane["pane_id"],
            created_at=time.time(),
        )
        await self._db.execute(
            "INSERT INTO agents(id, type, name, command, source, cwd, session, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                agent.id,
                agent.type,
                agent.name,
                command,
                source,
                workdir,
                agent.session,
                agent.created_at,
            ),
        )
        self._agents[agent.id] = agent
        await self._watch(tm, agent)
        log.info("agent %s (%s) created in pane %s", agent.name, agent.type, agent.pane_id)
        return agent.to_dict()

    def _free_name(self, tm: TerminalManager, agent_type: str) -> str:
        taken = {r.name for r in tm.records()} | {a.name for a in self._agents.values()}
        n = 1
        while f"{agent_type}-{n}" in taken:
            n += 1
        return f"{agent_type}-{n}"

    async def list(self) -> list[dict[str, Any]]:
        tm = await self._tm()
        await self._refresh_all(tm)
        return [a.to_dict() for a in sorted(self._agents.values(), key=lambda a: a.created_at)]

    async def get(self, ref: str) -> dict[str, Any]:
        tm = await self._tm()
        agent = self.resolve(ref)
        await self._refresh_one(tm, agent)
        return agent.to_dict()

    async def send(self, ref: str, text: str, *, enter: bool = True) -> dict[str, Any]:
        tm = await self._tm()
        agent = self.resolve(ref)
        await self._refresh_one(tm, agent)
        if agent.state is AgentState.EXITED:
            raise ConflictError(
                f"agent {agent.name} has exited (code {agent.exit_code}): nothing reads its "
                "input; stop it and create a new one",
                id=agent.id,
                exit_code=agent.exit_code,
            )
        await tm.backend.send_text(agent.pane_id, text + ("\n" if enter else ""))
        return {"id": agent.id, "sent": len(text), "enter": enter}

    async def output(self, ref: str, *, lines: int = DEFAULT_OUTPUT_LINES) -> dict[str, Any]:
        if not 1 <= lines <= MAX_OUTPUT_LINES:
            raise InvalidArgumentError(
                f"lines must be between 1 and {MAX_OUTPUT_LINES}, got {lines}", param="lines"
            )
        tm = await self._tm()
        agent = self.resolve(ref)
        await self._refresh_one(tm, agent)
        if agent.closed:
            raise NotFoundError(f"agent {agent.name}'s pane is gone: no output to read", id=ref)
        text = await tm.backend.capture(agent.pane_id, start=-lines)
        kept = text.split("\n")[-lines:] if text else []
        return {
            "id": agent.id,
            "state": agent.state.value,
            "lines": len(kept),
            "text": "\n".join(kept),
        }

    async def pane_of(self, ref: str) -> tuple[str, str]:
        """(agent id, tmux pane id) for ``ref``; NotFoundError if no such agent."""
        await self._tm()
        agent = self.resolve(ref)
        return agent.id, agent.pane_id

    async def stop(self, ref: str) -> dict[str, Any]:
        """Close the agent's pane (its process gets SIGHUP) and forget the agent."""
        tm = await self._tm()
        agent = self.resolve(ref)
        if not agent.closed:
            with contextlib.suppress(NotFoundError):  # closed from outside meanwhile
                await tm.refresh()
                await tm.close_pane(agent.id)
        agent.closed = True
        self._apply(agent, AgentEvent.EXIT)
        await self._forget(agent)
        log.info("agent %s stopped", agent.name)
        return {**agent.to_dict(), "stopped": True}

    async def _forget(self, agent: Agent) -> None:
        if agent._timer is not None:
            agent._timer.cancel()
        if agent._watcher is not None and agent._watcher is not asyncio.current_task():
            agent._watcher.cancel()
        self._agents.pop(agent.id, None)
        await self._db.execute("DELETE FROM agents WHERE id = ?", (agent.id,))

    def agent_type_of(self, pane_orchflow_id: str) -> str | None:
        agent = self._agents.get(pane_orchflow_id)
        return agent.type if agent is not None else None

    def cwd_of(self, pane_orchflow_id: str) -> str | None:
        agent = self._agents.get(pane_orchflow_id)
        return agent.cwd if agent is not None else None


def _check_cwd(cwd: str | None, default: Path) -> str:
    path = Path(cwd).expanduser() if cwd is not None else default
    if not path.is_absolute():
        path = default / path
    if not path.is_dir():
        raise InvalidArgumentError(
            f"cwd {str(path)!r} is not a directory", param="cwd", cwd=str(path)
        )
    return os.path.normpath(path)
