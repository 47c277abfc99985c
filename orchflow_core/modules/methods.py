"""``module.*`` methods: list, info, enable, disable, trust, untrust, command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.modules import discovery, store
from orchflow_core.modules.registry import modules_of, reload

if TYPE_CHECKING:
    from orchflow_core.core import Core


@METHODS.method("module.list")
async def module_list(core: Core, params: Params) -> dict[str, Any]:
    """Every module found, with its state; ``reload`` (default false) discovers again."""
    ms = await (reload(core) if param(params, "reload", bool, False) else modules_of(core))
    return {
        "project": str(ms.project),
        "trusted": ms.trusted_at is not None,
        "dirs": {
            "user": str(discovery.user_dir()),
            "project": str(discovery.project_dir(ms.project)),
            "entry_points": discovery.ENTRY_POINT_GROUP,
        },
        "modules": [m.summary() for m in ms.modules.values()],
        "commands": ms.commands(),
    }


@METHODS.method("module.info")
async def module_info(core: Core, params: Params) -> dict[str, Any]:
    ms = await modules_of(core)
    return ms.get(param(params, "name", str)).info()


async def _set(core: Core, params: Params, enabled: bool) -> dict[str, Any]:
    name = param(params, "name", str)
    ms = await modules_of(core)
    mod = ms.get(name)
    if mod.manifest is None or mod.state in ("invalid", "untrusted"):
        raise InvalidArgumentError(
            f"module {name!r} is {mod.state} and cannot be enabled or disabled: {mod.error}",
            name=name,
        )
    await store.set_enabled(await core.db(), mod.manifest.name, enabled)
    ms = await reload(core)
    return ms.get(name).info()


@METHODS.method("module.enable")
async def module_enable(core: Core, params: Params) -> dict[str, Any]:
    """Enable a module (persisted); returns its info, whose state says whether it loaded."""
    return await _set(core, params, True)


@METHODS.method("module.disable")
async def module_disable(core: Core, params: Params) -> dict[str, Any]:
    """Disable a module (persisted): its methods, commands and test adapters are refused."""
    return await _set(core, params, False)


def _project(core: Core, params: Params) -> str:
    cwd = param(params, "cwd", str, None)
    root = Path(cwd).expanduser().resolve() if cwd else core.project_root
    if not root.is_dir():
        raise NotFoundError(f"cwd {cwd!r} is not a directory", param="cwd")
    return str(root)


@METHODS.method("module.trust")
async def module_trust(core: Core, params: Params) -> dict[str, Any]:
    """Trust a project (default: this one) so its ``.orchflow/modules/`` load; persisted."""
    root = _project(core, params)
    at = await store.trust(await core.db(), root)
    ms = await reload(core)
    loaded = [m.name for m in ms.modules.values() if m.source == "project"]
    return {"project": root, "trusted_at": at, "modules": loaded}


@METHODS.method("module.untrust")
async def module_untrust(core: Core, params: Params) -> dict[str, Any]:
    root = _project(core, params)
    removed = await store.untrust(await core.db(), root)
    await reload(core)
    return {"project": root, "was_trusted": removed}


@METHODS.method("module.command")
async def module_command(core: Core, params: Params) -> Any:
    """Run a command a module contributes: ``{name, args?}``; its method gets ``{args}``."""
    name = param(params, "name", str)
    args = param(params, "args", list, [])
    ms = await modules_of(core)
    for c in ms.commands():
        if c["name"] == name:
            if c["method"] is None:
                raise InvalidArgumentError(
                    f"{name!r} is a built-in command: use :Orchflow {name}", name=name
                )
            found = ms.handler(c["method"])
            if found is None:
                raise NotFoundError(f"command {name!r}: no method {c['method']!r}", name=name)
            mod, fn = found
            assert mod.api is not None
            return await fn(mod.api, {"args": [str(a) for a in args]})
    known = ", ".join(c["name"] for c in ms.commands() if c["method"]) or "none"
    raise NotFoundError(f"no module command {name!r} (enabled ones: {known})", name=name)
