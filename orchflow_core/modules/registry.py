"""One ``ModuleSet`` per Core, loaded on first use and reloaded after enable/disable/trust."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from orchflow_core.modules.loader import ModuleSet, load

if TYPE_CHECKING:
    from orchflow_core.core import Core

_SETS: weakref.WeakKeyDictionary[Any, ModuleSet] = weakref.WeakKeyDictionary()
_GENERATION = [0]  # bumped by every reload: the rule book re-reads modules' rules
_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock(core: Core) -> asyncio.Lock:
    lock = _LOCKS.get(core)
    if lock is None:
        lock = _LOCKS[core] = asyncio.Lock()
    return lock


async def modules_of(core: Core) -> ModuleSet:
    ms = _SETS.get(core)
    if ms is not None:
        return ms
    async with _lock(core):
        ms = _SETS.get(core)
        if ms is None:
            ms = _SETS[core] = await load(core)
        return ms


async def reload(core: Core) -> ModuleSet:
    async with _lock(core):
        ms = _SETS[core] = await load(core)
        _GENERATION[0] += 1
        return ms


def contributed_agents(core: Core) -> dict[str, dict[str, Any]]:
    """The agent registry entries of the enabled modules, as ``[agents.<name>]`` tables (the
    first module to name an agent wins); empty until the core's modules are loaded."""
    ms = _SETS.get(core)
    out: dict[str, dict[str, Any]] = {}
    for m in ms.active() if ms is not None else []:
        for a in m.manifest.agents if m.manifest else ():
            out.setdefault(str(a["name"]), {k: v for k, v in a.items() if k != "name"})
    return out


async def contributed_rules(core: Core) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """(generation, [(module, rule)]) of the enabled modules' ``contributes.rules``."""
    ms = await modules_of(core)
    rules = [(m.name, dict(r)) for m in ms.active() if m.manifest for r in m.manifest.rules]
    return _GENERATION[0], rules
