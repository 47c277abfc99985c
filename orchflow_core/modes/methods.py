"""``mode.*`` for the Neovim host and JSON-RPC (api.METHODS), and what other parts ask of
the active mode.

    mode.list       {cwd?}        -> {modes: [mode + active], active, project, problems, dirs}
    mode.activate   {name, cwd?}  -> {project, mode, activated_at, unknown_rules}
    mode.current    {cwd?}        -> {project, name, mode, activated_at, problem}
    mode.deactivate {cwd?}        -> {project, name, deactivated}

The active mode is kept per project (the ``cwd``, resolved; default the process's project
root) in SQLite (``active_modes``), so the Neovim host and the orchestrator share it.
Changes are published as ``mode.changed {project, name}``.

What the active mode changes elsewhere, all through this module:

- ``ai.route`` leans to its ``agent_types`` (``route_types``);
- ``agent.prompt`` to an AI agent gets its preamble in front of each turn (``preamble_for``,
  also for ``ai.complete``);
- the rules: a rule scoped to the mode, and every rule id the mode names in ``rules``, is in
  force at the rules' one choke point while it is active (``rules_for``, wired into
  ``RuleBook`` by ``Core.rules``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import InvalidArgumentError, UnavailableError
from orchflow_core.modes.catalog import BUILTIN_DIR, PROJECT_MODES, ModeCatalog, user_dir
from orchflow_core.modes.modefile import Mode
from orchflow_core.modes.store import ModeRepository

if TYPE_CHECKING:
    from orchflow_core.core import Core

log = logging.getLogger(__name__)

_catalogs: weakref.WeakKeyDictionary[Any, ModeCatalog] = weakref.WeakKeyDictionary()


def catalog(core: Core) -> ModeCatalog:
    found = _catalogs.get(core)
    if found is None:
        found = _catalogs[core] = ModeCatalog()
    return found


def project_of(core: Core, cwd: object) -> str:
    if cwd is None:
        return str(core.project_root)
    if not isinstance(cwd, str) or not cwd.strip():
        raise InvalidArgumentError("cwd must be a directory path", param="cwd")
    path = os.path.realpath(os.path.expanduser(cwd))
    if not os.path.isdir(path):
        raise InvalidArgumentError(f"cwd {cwd!r} is not a directory", param="cwd")
    return path


async def _modes(core: Core, project: str) -> tuple[dict[str, Mode], list[str]]:
    contributed = await _module_modes(core)
    return await asyncio.to_thread(catalog(core).load, project, contributed)


async def _module_modes(core: Core) -> list[tuple[str, str]]:
    """(module, mode file) of the enabled modules' ``contributes.modes``; none when the
    modules cannot be loaded (their state database unavailable: said in the log)."""
    from orchflow_core.errors import OrchflowError
    from orchflow_core.modules.registry import modules_of

    try:
        ms = await modules_of(core)
    except OrchflowError as exc:
        log.warning("modes: the modules' modes are left out: %s", exc.message)
        return []
    return [
        (m.name, str(mode["path"]))
        for m in ms.active()
        if m.manifest is not None
        for mode in m.manifest.modes
    ]


async def active_mode(core: Core, project: str) -> tuple[str, Mode | None, float] | None:
    """(name, its mode or None when its file is gone, activated_at), or None."""
    try:
        db = await core.db()
    except UnavailableError:
        return None
    active = await ModeRepository(db).get(project)
    if active is None:
        return None
    modes, _ = await _modes(core, project)
    return active.mode, modes.get(active.mode), active.activated_at


async def named_preamble(core: Core, name: str, cwd: str | None = None) -> str | None:
    """The preamble of the mode called ``name`` (whether or not it is active), or None
    when it has none; an unknown name is an error that lists the known ones."""
    modes, _ = await _modes(core, project_of(core, cwd))
    mode = modes.get(name)
    if mode is None:
        known = ", ".join(sorted(modes)) or "none"
        raise InvalidArgumentError(f"no mode {name!r}; known modes: {known}", param="mode")
    return mode.preamble or None


async def preamble_for(core: Core, cwd: str | None = None) -> str | None:
    """The active mode's prompt preamble for the project at ``cwd`` (default the core's
    project root), or None: no mode, or one without a preamble."""
    found = await active_mode(core, project_of(core, cwd))
    if found is None or found[1] is None:
        return None
    return found[1].preamble or None


async def with_preamble(
    core: Core, text: str, *, one_line: bool = False, cwd: str | None = None
) -> tuple[str, str | None]:
    """(``text`` with the active mode's preamble in front, the mode's name) for one turn of
    an AI agent; ``text`` as it is when no mode (or no preamble) is active or it already
    starts with the preamble. ``one_line``: the preamble's lines joined with spaces, for a
    terminal agent whose TUI would submit at a typed newline."""
    found = await active_mode(core, project_of(core, cwd))
    if found is None or found[1] is None or not found[1].preamble:
        return text, None
    preamble = found[1].preamble
    if one_line:
        preamble = " ".join(preamble.split())
    if text.startswith(preamble):
        return text, found[0]
    return (f"{preamble} {text}" if one_line else f"{preamble}\n\n{text}"), found[0]


async def route_types(
    core: Core, project: str, name: str | None
) -> tuple[str | None, tuple[str, ...]]:
    """(mode name, the agent types it prefers) for routing: ``name`` when given (an unknown
    one is refused), else the project's active mode."""
    if name is not None:
        modes, _ = await _modes(core, project)
        mode = modes.get(name)
        if mode is None:
            raise InvalidArgumentError(
                f"context.mode {name!r} is not a mode (modes: {', '.join(sorted(modes))})",
                param="context",
            )
        return name, mode.agent_types
    found = await active_mode(core, project)
    if found is None:
        return None, ()
    return found[0], found[1].agent_types if found[1] is not None else ()


async def rules_for(core: Core, name: str | None) -> tuple[str, frozenset[str]] | None:
    """(mode, rule ids it turns on) for the rules' check: ``name`` when given, else the mode
    active in the core's project; None when there is none."""
    project = str(core.project_root)
    if name is None:
        found = await active_mode(core, project)
        if found is None:
            return None
        name, mode = found[0], found[1]
    else:
        modes, _ = await _modes(core, project)
        mode = modes.get(name)
    return name, frozenset(mode.rules) if mode is not None else frozenset()


def _publish(core: Core, project: str, name: str | None) -> None:
    core.events.publish("mode.changed", project=project, name=name)


@METHODS.method("mode.list")
async def mode_list(core: Core, params: Params) -> dict[str, Any]:
    project = project_of(core, param(params, "cwd", str, None))
    modes, problems = await _modes(core, project)
    found = await active_mode(core, project)
    active = found[0] if found else None
    if found is not None and found[1] is None:
        problems = [*problems, f"the active mode {active!r} has no file any more"]
    return {
        "project": project,
        "active": active,
        "modes": [
            {**m.to_dict(), "active": m.name == active}
            for m in sorted(modes.values(), key=lambda m: m.name)
        ],
        "problems": problems,
        "dirs": {
            "builtin": str(BUILTIN_DIR),
            "user": str(user_dir()),
            "project": str(os.path.join(project, PROJECT_MODES)),
        },
    }


@METHODS.method("mode.activate")
async def mode_activate(core: Core, params: Params) -> dict[str, Any]:
    name = param(params, "name", str)
    project = project_of(core, param(params, "cwd", str, None))
    modes, problems = await _modes(core, project)
    mode = modes.get(name)
    if mode is None:
        bad = [p for p in problems if f"/{name}.toml:" in p]
        hint = f"; its file has a problem: {bad[0]}" if bad else ""
        raise InvalidArgumentError(
            f"no mode {name!r} (modes: {', '.join(sorted(modes)) or 'none'}){hint}", param="name"
        )
    known = {r.id for r in (await core.rules.ruleset()).rules}
    unknown = [r for r in mode.rules if r not in known]
    if unknown:
        log.warning("mode %s names unknown rule(s) %s", name, ", ".join(unknown))
    active = await ModeRepository(await core.db()).set(project, name)
    _publish(core, project, name)
    return {
        "project": project,
        "mode": mode.to_dict(),
        "activated_at": active.activated_at,
        "unknown_rules": unknown,
    }


@METHODS.method("mode.current")
async def mode_current(core: Core, params: Params) -> dict[str, Any]:
    project = project_of(core, param(params, "cwd", str, None))
    found = await active_mode(core, project)
    if found is None:
        return {"project": project, "name": None, "mode": None, "activated_at": None}
    name, mode, at = found
    out: dict[str, Any] = {
        "project": project,
        "name": name,
        "mode": mode.to_dict() if mode else None,
        "activated_at": at,
    }
    if mode is None:
        out["problem"] = f"mode {name!r} has no file any more (mode.deactivate ends it)"
    return out


@METHODS.method("mode.deactivate")
async def mode_deactivate(core: Core, params: Params) -> dict[str, Any]:
    project = project_of(core, param(params, "cwd", str, None))
    repo = ModeRepository(await core.db())
    before = await repo.get(project)
    removed = await repo.clear(project)
    if removed:
        _publish(core, project, None)
    return {"project": project, "name": before.mode if before else None, "deactivated": removed}
