"""``ai.route`` and ``ai.feedback`` for the Neovim host and JSON-RPC (api.METHODS).

    ai.route    {input, context?: {cwd?, mode?, agent?}}
                -> {agent_type, suggested_command, confidence, reason, tier, source,
                    arguments, alternatives: [{agent_type, command, confidence}]}
    ai.feedback {input, context?, verdict: accept|edit|reject, agent_type?, command?}
                -> {id, project, phrase, votes}

Feedback is stored per project (the context's cwd, resolved) in the state database
(table router_feedback, migration 4). The route's project scan runs in a thread (it reads
files); the routing itself is pure and takes well under a millisecond.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import InvalidArgumentError, UnavailableError
from orchflow_core.project.detect import AGENT_TYPES
from orchflow_core.router.project import ProjectCache
from orchflow_core.router.router import Learned, check_input, normalise, route

if TYPE_CHECKING:
    from orchflow_core.core import Core

CONTEXT_KEYS = frozenset({"cwd", "mode", "agent"})
VERDICTS = ("accept", "edit", "reject")
ROUTE_TYPES = (*AGENT_TYPES[:-1], "ai")
MAX_COMMAND_CHARS = 4000


class RouterService:
    """Per-core caches: project scans and each project's feedback."""

    def __init__(self) -> None:
        self.projects = ProjectCache()
        self.learned: dict[str, Learned] = {}


_services: weakref.WeakKeyDictionary[Any, RouterService] = weakref.WeakKeyDictionary()


def service(core: Core) -> RouterService:
    svc = _services.get(core)
    if svc is None:
        svc = _services[core] = RouterService()
    return svc


def _context(params: Params) -> tuple[str, str | None, str | None]:
    ctx = params.get("context")
    if ctx is None:
        ctx = {}
    if not isinstance(ctx, dict):
        raise InvalidArgumentError(
            f"context must be an object, not {type(ctx).__name__}", param="context"
        )
    unknown = sorted(set(ctx) - CONTEXT_KEYS)
    if unknown:
        raise InvalidArgumentError(
            f"context has unknown key(s) {', '.join(map(repr, unknown))}; known: cwd, mode, agent",
            param="context",
        )
    cwd = ctx.get("cwd") or os.getcwd()
    for key in ("cwd", "mode", "agent"):
        if ctx.get(key) is not None and not isinstance(ctx[key], str):
            raise InvalidArgumentError(f"context.{key} must be a string", param="context")
    agent = ctx.get("agent")
    if agent is not None and agent not in ROUTE_TYPES:
        raise InvalidArgumentError(
            f"context.agent must be one of {', '.join(ROUTE_TYPES)}, not {agent!r}",
            param="context",
        )
    return os.path.realpath(os.path.expanduser(cwd)), ctx.get("mode"), agent


async def _learned(core: Core, project: str) -> Learned:
    svc = service(core)
    hit = svc.learned.get(project)
    if hit is not None:
        return hit
    learned = Learned()
    try:
        db = await core.db()
    except UnavailableError:
        return learned
    rows = await db.fetchall(
        "SELECT phrase, verdict, agent_type, command FROM router_feedback WHERE project = ?"
        " ORDER BY id",
        (project,),
    )
    for phrase, verdict, agent_type, command in rows:
        learned.add(phrase, verdict, agent_type, command)
    svc.learned[project] = learned
    return learned


async def _history(core: Core, cwd: str) -> list[tuple[str, float]]:
    await core.db()
    store = getattr(core, "history", None)
    if store is None:
        return []
    return [(row.command, row.frecency) for row in await store.top(30, cwd=cwd)]


@METHODS.method("ai.route")
async def ai_route(core: Core, params: Params) -> dict[str, Any]:
    text = check_input(params.get("input"))
    cwd, mode, agent = _context(params)
    svc = service(core)
    view = await asyncio.to_thread(svc.projects.get, cwd)  # NotFoundError: not a directory
    no_project = None
    if not view.kinds:
        no_project = (
            f"{cwd} has no recognisable tooling (no Makefile, package.json, Cargo.toml, "
            "go.mod, Python project file or justfile)"
        )
    learned = await _learned(core, cwd)
    history = await _history(core, cwd)
    from orchflow_core.modes.methods import route_types

    mode, mode_types = await route_types(core, cwd, mode)
    result = route(
        text,
        view,
        history=history,
        learned=learned,
        mode=mode,
        mode_types=mode_types,
        agent=agent,
        no_project_reason=no_project,
    )
    out = result.to_dict()
    out["project"] = cwd
    out["mode"] = mode
    return out


@METHODS.method("ai.feedback")
async def ai_feedback(core: Core, params: Params) -> dict[str, Any]:
    text = check_input(params.get("input"))
    cwd, _mode, _agent = _context(params)
    verdict = param(params, "verdict", str)
    if verdict not in VERDICTS:
        raise InvalidArgumentError(
            f"verdict must be accept, edit or reject, not {verdict!r}", param="verdict"
        )
    agent_type = param(params, "agent_type", str, None)
    if agent_type is not None and agent_type not in ROUTE_TYPES:
        raise InvalidArgumentError(
            f"agent_type must be one of {', '.join(ROUTE_TYPES)}, not {agent_type!r}",
            param="agent_type",
        )
    command: str | None = param(params, "command", str, None)
    if command is not None:
        command = command.strip() or None
        if command and len(command) > MAX_COMMAND_CHARS:
            raise InvalidArgumentError(
                f"command is {len(command)} characters; at most {MAX_COMMAND_CHARS}",
                param="command",
            )
    if verdict == "edit" and agent_type is None and command is None:
        raise InvalidArgumentError(
            "an edit verdict needs the corrected agent_type or command", param="verdict"
        )
    phrase = normalise(text).key
    learned = await _learned(core, cwd)
    db = await core.db()
    row = (cwd, phrase, text, verdict, agent_type, command, time.time())
    row_id = await db.transaction(
        lambda conn: (
            conn.execute(
                "INSERT INTO router_feedback(project, phrase, input, verdict, agent_type, command,"
                " ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            ).lastrowid
        )
    )
    learned.add(phrase, verdict, agent_type, command)
    votes = learned.votes.get(phrase, {}).get((agent_type, command), 0)
    return {"id": row_id, "project": cwd, "phrase": phrase, "votes": int(votes)}
