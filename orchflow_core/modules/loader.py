"""The modules of one Core: discovered, validated, checked against each other, and the enabled
ones activated.

States of a module (``Loaded.state``): ``enabled`` (active) | ``disabled`` (module.disable;
persisted) | ``invalid`` (its manifest fails validation, or its name is taken) |
``conflict`` (it contributes a command another module already contributes; both are named) |
``failed`` (its entry raised while loading) | ``untrusted`` (a project module of a project not
trusted yet: nothing of it runs).

Activation: a built-in module's entry is a package module that registers its methods in
``api.METHODS`` when first used (orchflow_core/registry.py reads the prefixes from its
manifest); ``dispatch`` refuses them while the module is disabled. Any other module's entry
is imported from its folder and its ``register(api)`` called with a ``ModuleApi``; its
methods, commands and test adapters are served from here.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import NotFoundError, OrchflowError, UnavailableError
from orchflow_core.modules import discovery, store
from orchflow_core.modules.context import ModuleApi, ModuleHandler
from orchflow_core.modules.manifest import Manifest, TestAdapter, parse_manifest
from orchflow_core.modules.permissions import Guard

if TYPE_CHECKING:
    from orchflow_core.core import Core

log = logging.getLogger(__name__)


def _matches(method: str, declared: str) -> bool:
    """``test.`` declares every ``test.*`` method; anything else one name."""
    return method.startswith(declared) if declared.endswith(".") else method == declared


@dataclass(slots=True)
class Loaded:
    name: str
    source: str
    folder: Path
    state: str
    error: str | None = None
    manifest: Manifest | None = None
    api: ModuleApi | None = None
    entry_module: Any = None

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "name": self.name,
            "version": m.version if m else None,
            "kind": m.kind if m else None,
            "source": self.source,
            "folder": str(self.folder),
            "state": self.state,
            "error": self.error,
            "description": m.description if m else "",
        }

    def info(self) -> dict[str, Any]:
        m = self.manifest
        out = self.summary()
        if m is not None:
            p = m.permissions
            out["entry"] = m.entry
            out["permissions"] = {
                "fs": list(p.fs),
                "exec": list(p.exec),
                "network": list(p.network),
            }
            out["contributes"] = m.contributions()
            out["commands"] = [
                {"name": c.name, "method": c.method, "desc": c.desc} for c in m.commands
            ]
        return out


@dataclass(slots=True)
class Adapter:
    module: Loaded
    spec: TestAdapter
    parse: Callable[..., Any] | None


@dataclass(slots=True)
class ModuleSet:
    project: Path
    modules: dict[str, Loaded] = field(default_factory=dict)
    untrusted: list[Path] = field(default_factory=list)
    trusted_at: float | None = None

    # -- queries ---------------------------------------------------------------------------
    def get(self, name: str) -> Loaded:
        mod = self.modules.get(name)
        if mod is None:
            known = ", ".join(sorted(self.modules)) or "none"
            raise NotFoundError(f"no module {name!r} (known: {known})", name=name)
        return mod

    def active(self) -> list[Loaded]:
        return [m for m in self.modules.values() if m.state == "enabled"]

    def builtin_owner(self, method: str) -> Loaded | None:
        for m in self.modules.values():
            if m.source != "builtin" or m.manifest is None:
                continue
            if any(_matches(method, p) for p in m.manifest.methods):
                return m
        return None

    def require_enabled(self, mod: Loaded, what: str) -> None:
        if mod.state != "enabled":
            hint = (
                f"; :Orchflow module enable {mod.name}"
                if mod.state == "disabled"
                else f": {mod.error}"
                if mod.error
                else ""
            )
            raise UnavailableError(
                f"{what} belongs to module {mod.name!r}, which is {mod.state}{hint}",
                module=mod.name,
                state=mod.state,
            )

    def handler(self, method: str) -> tuple[Loaded, ModuleHandler] | None:
        for m in self.modules.values():
            if m.manifest is not None and method in m.manifest.methods and m.source != "builtin":
                if m.state != "enabled":
                    self.require_enabled(m, f"method {method!r}")
                if m.api is not None and method in m.api.methods:
                    return m, m.api.methods[method]
                raise UnavailableError(
                    f"module {m.name!r} declares {method!r} but did not register it",
                    module=m.name,
                )
        return None

    def commands(self) -> list[dict[str, Any]]:
        out = []
        for m in self.active():
            assert m.manifest is not None
            for c in m.manifest.commands:
                out.append({"name": c.name, "module": m.name, "method": c.method, "desc": c.desc})
        return sorted(out, key=lambda c: c["name"])

    def adapters(self) -> dict[str, Adapter]:
        """Test adapters of enabled modules, by framework (a built-in framework's too)."""
        out: dict[str, Adapter] = {}
        for m in self.active():
            assert m.manifest is not None
            for spec in m.manifest.test_adapters:
                fn = getattr(m.entry_module, spec.parse, None) if spec.parse else None
                out[spec.framework] = Adapter(m, spec, fn)
        return out


DEFAULT_LOAD_TIMEOUT_S = 10.0


async def load(
    core: Core,
    *,
    search_path: list[str] | None = None,
    load_timeout_s: float = DEFAULT_LOAD_TIMEOUT_S,
) -> ModuleSet:
    """Discover, check and activate the modules; ``load_timeout_s`` (default 10 s) bounds each
    module's import and ``register(api)``."""
    db = await core.db()
    root = str(core.project_root)
    trusted_at = await store.trusted(db, root)
    enabled = await store.states(db)
    found, untrusted = await asyncio.to_thread(
        discovery.discover, core.project_root, trusted=trusted_at is not None,
        search_path=search_path,
    )  # fmt: skip
    ms = ModuleSet(core.project_root, untrusted=untrusted, trusted_at=trusted_at)
    parsed = await asyncio.to_thread(_parse_all, found)
    _settle(ms, parsed, enabled)
    for mod in ms.modules.values():
        if mod.state == "enabled" and mod.source != "builtin":
            await _activate(core, mod, load_timeout_s)
    for folder in untrusted:
        name = f"{folder.name} (untrusted)"
        ms.modules[name] = Loaded(
            name, "project", folder, "untrusted",
            f"project {root} is not trusted: :Orchflow module trust",
        )  # fmt: skip
    return ms


def _parse_all(found: list[discovery.Found]) -> list[tuple[discovery.Found, Manifest | str]]:
    out: list[tuple[discovery.Found, Manifest | str]] = []
    for f in found:
        if f.error:
            out.append((f, f.error))
            continue
        try:
            out.append((f, parse_manifest(f.folder, builtin=f.source == "builtin")))
        except OrchflowError as exc:
            out.append((f, exc.message))
    return out


def _settle(
    ms: ModuleSet, parsed: list[tuple[discovery.Found, Manifest | str]], enabled: dict[str, bool]
) -> None:
    commands: dict[str, str] = {}
    methods: dict[str, str] = {}
    frameworks: dict[str, str] = {}
    for found, result in parsed:
        if isinstance(result, str):
            key = f"{found.folder.name} ({found.source})"
            ms.modules[key] = Loaded(key, found.source, found.folder, "invalid", result)
            continue
        m = result
        if m.name in ms.modules:
            other = ms.modules[m.name]
            key = f"{m.name} ({found.folder})"
            ms.modules[key] = Loaded(
                key, found.source, found.folder, "invalid",
                f"name {m.name!r} is already taken by the {other.source} module in {other.folder}",
                m,
            )  # fmt: skip
            continue
        mod = Loaded(m.name, found.source, found.folder, "enabled", None, m)
        ms.modules[m.name] = mod
        clashes = [
            f"command {c.name!r} is also contributed by module {commands[c.name]!r}"
            for c in m.commands
            if c.name in commands
        ]
        clashes += [
            f"method {x!r} is also contributed by module {methods[x]!r}"
            for x in m.methods
            if x in methods
        ]
        clashes += [
            f"test adapter {a.framework!r} is also contributed by module"
            f" {frameworks[a.framework]!r}"
            for a in m.test_adapters
            if a.framework in frameworks
        ]
        if clashes:
            mod.state = "conflict"
            mod.error = f"module {m.name!r}: " + "; ".join(clashes)
            continue
        if not enabled.get(m.name, True):
            mod.state = "disabled"
            continue
        commands.update({c.name: m.name for c in m.commands})
        methods.update({x: m.name for x in m.methods})
        frameworks.update({a.framework: m.name for a in m.test_adapters})


def _settings(m: Manifest, given: Any) -> dict[str, Any]:
    """The module's settings: its declared defaults with ``[modules.<name>]`` over them, each
    checked against the type it declares; ValueError names the key."""
    from orchflow_core.config import _check_leaf

    out = {k: v.get("default") for k, v in m.config.items()}
    if not isinstance(given, dict):
        raise ValueError(f"config: modules.{m.name} must be a table of settings")
    for key, value in given.items():
        spec = m.config.get(key)
        if spec is None:
            known = ", ".join(sorted(m.config)) or "none"
            raise ValueError(
                f"config: modules.{m.name}.{key}: module {m.name!r} declares no such setting"
                f" (its settings: {known})"
            )
        problem = _check_leaf(f"modules.{m.name}.{key}", spec, value)
        if problem:
            raise ValueError(f"config: {problem}")
        out[key] = value
    return out


def _import(path: Path, name: str) -> Any:
    qualname = f"orchflow_modules.{name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(qualname, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    entry = importlib.util.module_from_spec(spec)
    sys.modules[qualname] = entry
    spec.loader.exec_module(entry)
    return entry


async def _activate(core: Core, mod: Loaded, timeout_s: float) -> None:
    m = mod.manifest
    assert m is not None and m.entry is not None
    guard = Guard(m.name, mod.folder, core.project_root, m.permissions)
    try:
        settings = _settings(m, core.config.get("modules", {}).get(m.name, {}))
    except ValueError as exc:
        mod.state, mod.error = "failed", str(exc)
        return
    api = ModuleApi(m, guard, settings)
    try:
        # off the event loop (an entry's import and register() are its author's code), and
        # bounded: a module that hangs while loading is failed, the editor goes on
        async with asyncio.timeout(timeout_s):
            entry = await asyncio.to_thread(_import, mod.folder / m.entry, m.name)
            register = getattr(entry, "register", None)
            if register is not None:
                if inspect.iscoroutinefunction(register):
                    await register(api)
                else:
                    await asyncio.to_thread(register, api)
        for a in m.test_adapters:
            if a.parse and not callable(getattr(entry, a.parse, None)):
                raise AttributeError(
                    f"contributes.test_adapters: parse function {a.parse!r} is not in {m.entry}"
                )
        missing = [x for x in m.methods if x not in api.methods]
        if missing:
            raise LookupError(f"register(api) did not register {', '.join(missing)}")
    except TimeoutError:
        log.warning("module %s took longer than %s s to load", m.name, timeout_s)
        mod.state = "failed"
        mod.error = f"{m.entry}: loading took longer than {timeout_s} s (left out)"
        return
    except Exception as exc:
        log.exception("module %s failed to load from %s", m.name, mod.folder)
        mod.state = "failed"
        mod.error = f"{m.entry}: {type(exc).__name__}: {exc}"
        return
    mod.api, mod.entry_module = api, entry
