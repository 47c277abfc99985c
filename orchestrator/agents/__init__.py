"""Agents: panes with a type (dev, test, repl, build, lint, custom) running a command.

An agent is a pane kept by core's ``TerminalManager`` with ``meta`` marking it
(``{"agent": true, "source": <where a detected command came from>}``), nothing more: its
row is in ``orchflow.db``'s ``panes`` table, its identity in tmux's ``@orchflow_*`` tags,
and its lifecycle is the pane's (``orchflow_core/terminal/state.py``): ``idle`` while its
process lives, ``exited`` (with the exit code) once it ended, ``closed`` once its pane is
gone. The pane runs the command directly (``remain-on-exit`` keeps its output and exit
code after it ends).

Beside the state, an agent shows an ``activity`` derived from when it last printed (as this
process saw it): ``active`` if within ``idle_after_s``, else ``quiet`` (waiting for input,
a server with nothing to log, a finished REPL prompt); ``null`` once exited or closed.
There is no second state table: activity is computed when asked.

Agents outlive the orchestrator (it never kills them on shutdown; only ``agent.stop`` does)
and a restarted orchestrator finds them again through the TerminalManager's reconcile, as
the Neovim host does.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.worktrees import Worktrees, parse_spec
from orchestrator.worktrees import public as public_worktree
from orchflow_core.errors import (
    BackendError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.project.detect import AGENT_TYPES, detect_project_commands
from orchflow_core.terminal.manager import PaneRecord, TerminalManager
from orchflow_core.terminal.state import PaneState

if TYPE_CHECKING:
    from orchestrator.coordination.breakers import CircuitBreaker

log = logging.getLogger(__name__)

DEFAULT_IDLE_AFTER_S = 1.0
DEFAULT_OUTPUT_LINES = 100
AGENT = "agent"  # the meta key that makes a pane an agent

TerminalsGetter = Callable[[], Awaitable[TerminalManager]]


class AgentManager:
    """Creates, lists and stops agents: a thin layer over the started TerminalManager."""

    def __init__(
        self,
        terminals: TerminalsGetter,
        project_root: Path,
        *,
        idle_after_s: float = DEFAULT_IDLE_AFTER_S,
        breaker: CircuitBreaker | None = None,
        worktrees: Worktrees | None = None,
    ) -> None:
        self._terminals = terminals
        self.breaker = breaker  # "agent.spawn": guards making the agent's pane
        self.project_root = project_root
        self.idle_after_s = idle_after_s
        self.worktrees = worktrees
        self._tm: TerminalManager | None = None
        # the worktrees of agents that are not panes (ACP agents): {path: agent name, ...}
        self.other_worktrees: Callable[[], builtins.list[dict[str, Any]]] = list
        # AI agents in panes (orchestrator/agents/ai.py) add their state to a pane's view
        # and hear of its stop; None for every other pane.
        self.ai_view: Callable[[PaneRecord], dict[str, Any] | None] | None = None
        self.ai_stopped: Callable[[PaneRecord], None] | None = None

    @property
    def count(self) -> int:
        """Open agents as of the last look (0 before tmux started)."""
        return len(self._tm.records(meta_key=AGENT)) if self._tm is not None else 0

    async def tm(self) -> TerminalManager:
        self._tm = await self._terminals()
        return self._tm

    async def start(self) -> None:
        """Start tmux (the manager's reconcile finds the agents of earlier runs)."""
        await self.tm()

    async def close(self) -> None:
        """Nothing to stop: the agents' panes keep running in tmux."""

    # -- views -----------------------------------------------------------------------
    def view(self, tm: TerminalManager, rec: PaneRecord) -> dict[str, Any]:
        """The agent as the API shows it."""
        last = tm.last_output_at(rec.orchflow_id) if rec.state is not PaneState.CLOSED else None
        ai = self.ai_view(rec) if self.ai_view is not None else None
        named = {"agent": rec.meta["ai"], "transport": "terminal"} if rec.meta.get("ai") else {}
        view = {
            **named,  # an AI CLI in its pane: its registry name (file_ref, submit key...)
            "id": rec.orchflow_id,
            "type": rec.pane_type,
            "name": rec.name,
            "command": rec.command,
            "source": rec.meta.get("source"),
            "cwd": rec.cwd,
            "session": rec.session,
            "pane_id": rec.pane_id,
            "state": rec.state.value,
            "activity": activity(
                rec.state, last or rec.created_at, time.time(), idle_after_s=self.idle_after_s
            ),
            "exit_code": rec.exit_code,
            "created_at": rec.created_at,
            "last_output_at": last,
            "owner": rec.owner,
            "worktree": _public_worktree(rec.meta.get("worktree")),
        }
        if ai is not None:  # an AI agent's state is its state; the pane's stays pane_state
            view["pane_state"] = view["state"]
            view.update(ai)
        return view

    async def _agent(
        self, ref: str, *, observed: bool = True
    ) -> tuple[TerminalManager, PaneRecord]:
        """The open agent ``ref`` (its id, name or pane id), refreshed from tmux (and, with
        ``observed``, from what other processes stored about it)."""
        tm = await self.tm()
        try:
            rec = await tm.find(ref)
        except NotFoundError:
            rec = None
        if rec is None or not rec.meta.get(AGENT):
            known = ", ".join(sorted(r.name for r in tm.records(meta_key=AGENT))) or "none"
            raise NotFoundError(f"no agent {ref!r} (agents: {known})", id=ref) from None
        await tm.get(rec.orchflow_id, observed=observed)
        return tm, rec

    # -- API ---------------------------------------------------------------------------
    async def create(
        self,
        agent_type: str,
        *,
        name: str | None = None,
        command: str | None = None,
        cwd: str | None = None,
        session: str | None = None,
        worktree: Any = None,
    ) -> dict[str, Any]:
        """A new agent; with ``worktree`` (true or {branch?, base?}) in a new git worktree
        of the repository around ``cwd`` (orchestrator/worktrees.py), removed again if the
        agent cannot start."""
        if agent_type not in AGENT_TYPES:
            raise InvalidArgumentError(
                f"type must be one of {', '.join(AGENT_TYPES)}, got {agent_type!r}", param="type"
            )
        workdir = _check_cwd(cwd, self.project_root)
        spec = parse_spec(worktree)
        if command is not None and not command.strip():
            raise InvalidArgumentError("command is empty", param="command")
        if spec is None:
            return await self._create(agent_type, name, command, workdir, session, None)
        if self.worktrees is None:
            raise InvalidArgumentError("worktrees are not configured here", param="worktree")
        tm = await self.tm()
        await tm.refresh()
        name = name or _free_name(tm, agent_type)
        if any(r.name == name for r in tm.records()):
            raise ConflictError(f"a pane named {name!r} exists already", name=name)
        ws = await self.worktrees.create(
            tm, cwd=workdir, name=name, spec=spec, held_ports=self.held_ports(tm)
        )
        try:
            return await self._create(
                agent_type,
                name,
                command,
                os.path.normpath(os.path.join(ws["path"], ws["rel"])),
                session,
                ws,
            )
        except BaseException:
            try:
                await self.worktrees.remove(tm, ws)
            except Exception:  # the agent's own failure is what the caller must hear
                log.exception("could not remove the worktree %s of a failed agent", ws["path"])
            raise
        finally:
            self.worktrees.settle_port(ws["port"])

    async def _create(
        self,
        agent_type: str,
        name: str | None,
        command: str | None,
        workdir: str,
        session: str | None,
        ws: dict[str, Any] | None,
    ) -> dict[str, Any]:
        source: str | None = None
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
        if self.breaker is not None:
            self.breaker.check()  # open after repeated spawn failures: refused at once
        meta: dict[str, Any] = {AGENT: True, "source": source}
        if ws is not None:
            meta["worktree"] = ws
        try:
            tm = await self.tm()
            await tm.refresh()
            pane = await tm.new_pane(
                pane_type=agent_type,
                command=command,
                name=name or _free_name(tm, agent_type),
                cwd=workdir,
                session=session,
                env=self.worktrees.env(ws) if ws is not None and self.worktrees else None,
                meta=meta,
                origin="agent",  # rules: an agent's command is checked, and cannot be confirmed
            )
        except (BackendError, UnavailableError, TimeoutError_) as exc:  # tmux failed
            if self.breaker is not None:
                self.breaker.failure(exc.message)
            raise
        except BaseException:  # the caller's mistake (a taken name): says nothing of tmux
            if self.breaker is not None:
                self.breaker.release()
            raise
        if self.breaker is not None:
            self.breaker.success()
        log.info("agent %s (%s) created in pane %s", pane["name"], agent_type, pane["pane_id"])
        return self.view(tm, tm.resolve(pane["id"]))

    async def list(self) -> list[dict[str, Any]]:
        tm = await self.tm()
        await tm.refresh()
        agents = sorted(tm.records(meta_key=AGENT), key=lambda r: r.created_at or 0.0)
        return [self.view(tm, rec) for rec in agents]

    async def get(self, ref: str) -> dict[str, Any]:
        tm, rec = await self._agent(ref)
        return self.view(tm, rec)

    async def send(self, ref: str, text: str, *, enter: bool = True) -> dict[str, Any]:
        """Type ``text`` literally; ``enter`` presses the Enter key (a raw-mode program
        reads ``\\r``), it does not paste a line feed."""
        tm, rec = await self._agent(ref, observed=False)  # alive is all send needs to know
        if rec.state is not PaneState.IDLE and rec.state is not PaneState.RUNNING:
            raise ConflictError(
                f"agent {rec.name} has {rec.state.value} (code {rec.exit_code}): nothing reads "
                "its input; stop it and create a new one",
                id=rec.orchflow_id,
                exit_code=rec.exit_code,
            )
        await tm.send(rec.orchflow_id, text, enter=enter, origin="agent")  # rules: never asks
        return {"id": rec.orchflow_id, "sent": len(text), "enter": enter}

    async def output(self, ref: str, *, lines: int = DEFAULT_OUTPUT_LINES) -> dict[str, Any]:
        tm, rec = await self._agent(ref)
        if rec.state is PaneState.CLOSED:
            raise NotFoundError(f"agent {rec.name}'s pane is gone: no output to read", id=ref)
        text = await tm.capture(rec.orchflow_id, lines=lines)
        return {
            "id": rec.orchflow_id,
            "state": rec.state.value,
            "lines": len(text.split("\n")) if text else 0,
            "text": text,
        }

    async def stop(
        self, ref: str, *, remove_worktree: bool = False, force: bool = False
    ) -> dict[str, Any]:
        """Close the agent's pane (its process gets SIGHUP); the agent is then gone. With
        ``remove_worktree``, its worktree goes too (teardown script, worktree, the branch if
        merged); uncommitted changes there refuse it, before anything stops, unless
        ``force``."""
        tm, rec = await self._agent(ref)
        ws = rec.meta.get("worktree") if isinstance(rec.meta.get("worktree"), dict) else None
        if remove_worktree and ws is None:
            raise InvalidArgumentError(
                f"agent {rec.name} has no worktree to remove", param="remove_worktree"
            )
        if remove_worktree and ws is not None and self.worktrees is not None and not force:
            dirty = await self.worktrees.dirty(ws)
            if dirty:
                raise ConflictError(
                    f"agent {rec.name}'s worktree {ws['path']} has uncommitted changes "
                    f"({', '.join(dirty[:5])}{', ...' if len(dirty) > 5 else ''}); commit or "
                    "review them, or stop with force: true to discard them",
                    id=rec.orchflow_id,
                    paths=dirty[:50],
                )
        if rec.state is not PaneState.CLOSED:
            with contextlib.suppress(NotFoundError):  # closed from outside meanwhile
                await tm.close_pane(rec.orchflow_id)
        log.info("agent %s stopped", rec.name)
        if self.ai_stopped is not None:
            self.ai_stopped(rec)
        out = {**self.view(tm, rec), "stopped": True}
        if remove_worktree and ws is not None and self.worktrees is not None:
            out["worktree"] = {**(out["worktree"] or {}), **await self.worktrees.remove(tm, ws)}
        return out

    # -- worktrees no agent uses -------------------------------------------------------
    def _worktree_metas(self, tm: TerminalManager) -> builtins.list[dict[str, Any]]:
        """Every live agent's worktree meta (+ ``agent``: its name), panes and others."""
        panes = [
            {**r.meta["worktree"], "agent": r.name}
            for r in tm.records(meta_key=AGENT)
            if isinstance(r.meta.get("worktree"), dict)
        ]
        return panes + self.other_worktrees()

    def held_ports(self, tm: TerminalManager) -> set[int]:
        """The ports agents' worktrees hold (until their teardown)."""
        return {int(w["port"]) for w in self._worktree_metas(tm) if w.get("port")}

    def _in_use(self, tm: TerminalManager) -> dict[str, str]:
        return {str(w["path"]): str(w["agent"]) for w in self._worktree_metas(tm)}

    async def default_worktree(self, value: Any, cwd: str) -> dict[str, str] | None:
        """An AI agent's ``worktree``: as given, or (absent) on by default (``[worktree]
        ai``) when ``cwd`` is in a git repository with a commit; off elsewhere."""
        if value is not None or self.worktrees is None:
            return parse_spec(value)
        if not self.worktrees.settings.ai:
            return None
        from orchflow_core.errors import OrchflowError
        from orchflow_core.git.runner import Git

        try:
            git = await Git.open(cwd)
            rc, _, _ = await git.run("rev-parse", "--verify", "--quiet", "HEAD", ok_codes=(0, 1))
        except OrchflowError:  # not a repository (or no git): no worktree
            return None
        return {} if rc == 0 else None

    async def list_worktrees(self, cwd: str | None = None) -> builtins.list[dict[str, Any]]:
        """orchflow's worktrees of the repository around ``cwd`` (default: the project),
        each with the agent in it or ``orphan: true``."""
        if self.worktrees is None:
            raise InvalidArgumentError("worktrees are not configured here", param="cwd")
        tm = await self.tm()
        await tm.refresh()
        return await self.worktrees.listed(_check_cwd(cwd, self.project_root), self._in_use(tm))

    async def cleanup_worktrees(
        self, cwd: str | None = None, *, force: bool = False
    ) -> dict[str, Any]:
        """Remove the orphans among them (``Worktrees.cleanup``)."""
        if self.worktrees is None:
            raise InvalidArgumentError("worktrees are not configured here", param="cwd")
        tm = await self.tm()
        await tm.refresh()
        return await self.worktrees.cleanup(
            tm, _check_cwd(cwd, self.project_root), self._in_use(tm), force=force
        )


def activity(
    state: PaneState, last_output_at: float | None, now: float, *, idle_after_s: float
) -> str | None:
    """ "active" if the agent printed (or started) within ``idle_after_s``, else "quiet";
    None once its process ended or its pane is gone. Derived, never stored."""
    if state is not PaneState.IDLE and state is not PaneState.RUNNING:
        return None
    if last_output_at is None:
        return "quiet"
    return "active" if now - last_output_at < idle_after_s else "quiet"


def _public_worktree(ws: Any) -> dict[str, Any] | None:
    """What agent.get shows of an agent's worktree meta."""
    return public_worktree(ws)


def _free_name(tm: TerminalManager, agent_type: str) -> str:
    taken = {r.name for r in tm.records()}
    n = 1
    while f"{agent_type}-{n}" in taken:
        n += 1
    return f"{agent_type}-{n}"


def _check_cwd(cwd: str | None, default: Path) -> str:
    path = Path(cwd).expanduser() if cwd is not None else default
    if not path.is_absolute():
        path = default / path
    if not path.is_dir():
        raise InvalidArgumentError(
            f"cwd {str(path)!r} is not a directory", param="cwd", cwd=str(path)
        )
    return os.path.normpath(path)
