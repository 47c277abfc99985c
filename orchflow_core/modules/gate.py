"""The dispatcher's hook: refuse a disabled module's methods, serve a loaded module's own.

Cheap for every other method: the built-in modules' method prefixes are read once from their
manifests, and the module set is loaded only for a method one of them owns or that no
``api.METHODS`` handler serves.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from orchflow_core.modules.discovery import builtin_folders

if TYPE_CHECKING:
    from orchflow_core.core import Core

Handler = Callable[["Core", dict[str, Any]], Awaitable[Any]]


@cache
def builtin_prefixes() -> dict[str, str]:
    """Method prefix (``test.``) or exact name -> the built-in module that owns it."""
    out: dict[str, str] = {}
    for folder in builtin_folders():
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        for method in data.get("contributes", {}).get("methods", []):
            out[method] = data["name"]
    return out


def _owned(method: str) -> bool:
    return any(method.startswith(p) if p.endswith(".") else method == p for p in builtin_prefixes())


async def resolve(core: Core, method: str, registered: bool) -> Handler | None:
    """None: dispatch as usual; else the module's handler. Raises UnavailableError for a
    method of a disabled (or failed) module."""
    if registered and not _owned(method):
        return None
    from orchflow_core.modules.registry import modules_of

    ms = await modules_of(core)
    if _owned(method):
        owner = ms.builtin_owner(method)
        if owner is not None:
            ms.require_enabled(owner, f"method {method!r}")
        return None
    found = ms.handler(method)
    if found is None:
        return None
    mod, fn = found
    api = mod.api
    assert api is not None

    async def call(_core: Core, params: dict[str, Any]) -> Any:
        return await fn(api, params)

    return call
