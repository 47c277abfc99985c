"""``template.*`` host and JSON-RPC methods.

Saved templates are tmuxp YAML files in ``[templates] dir`` (default
``<state dir>/templates``), one per template, ``<name>.yaml``: user-editable, and
``tmuxp load`` reads them too. ``template.apply`` takes a saved ``name`` or any tmuxp or
tmuxinator file (``path``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchflow_core import paths
from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.templates import tmuxp
from orchflow_core.templates.apply import apply as apply_template
from orchflow_core.templates.freeze import dump, freeze

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def templates_dir(core: Any) -> Path:
    configured = core.config.get("templates", {}).get("dir")
    return Path(configured).expanduser() if configured else paths.state_dir() / "templates"


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name.endswith((".yaml", ".json")):
        raise InvalidArgumentError(
            f"bad template name {name!r}: letters, digits, '_', '.', '-' (up to 64), no extension",
            param="name",
        )
    return name


def _saved(core: Any, name: str) -> Path:
    p = templates_dir(core) / f"{_check_name(name)}.yaml"
    if not p.is_file():
        raise NotFoundError(f"no template {name!r} in {str(templates_dir(core))!r}", name=name)
    return p


async def module_templates(core: Any) -> dict[str, tuple[str, Path]]:
    """``<module>:<file stem>`` -> (module, file) for the templates enabled modules contribute."""
    from orchflow_core.modules.registry import modules_of

    out: dict[str, tuple[str, Path]] = {}
    for mod in (await modules_of(core)).active():
        for rel in mod.manifest.templates if mod.manifest else ():
            f = mod.folder / rel
            out[f"{mod.name}:{Path(rel).stem}"] = (mod.name, f)
    return out


async def _template_file(core: Any, name: str) -> Path:
    if ":" not in name:
        return _saved(core, name)
    found = (await module_templates(core)).get(name)
    if found is None:
        raise NotFoundError(
            f"no template {name!r}: no enabled module contributes it (see template.list)",
            name=name,
        )
    return found[1]


@METHODS.method("template.list")
async def template_list(core: Any, params: Params) -> dict[str, Any]:
    """Saved templates, then those enabled modules contribute (``<module>:<name>``)."""
    d = templates_dir(core)
    out = []
    for p in sorted(d.glob("*.yaml")) if d.is_dir() else []:
        entry: dict[str, Any] = {"name": p.stem, "path": str(p)}
        try:
            entry.update(tmuxp.load(p).counts())
        except InvalidArgumentError as exc:  # listed with its error, not hidden
            entry["error"] = str(exc)
        out.append(entry)
    for name, (module, f) in sorted((await module_templates(core)).items()):
        entry = {"name": name, "path": str(f), "module": module}
        try:
            entry.update(tmuxp.load(f).counts())
        except InvalidArgumentError as exc:
            entry["error"] = str(exc)
        out.append(entry)
    return {"dir": str(d), "templates": out}


@METHODS.method("template.apply")
async def template_apply(core: Any, params: Params) -> dict[str, Any]:
    name = param(params, "name", str, None)
    path = param(params, "path", str, None)
    if (name is None) == (path is None):
        raise InvalidArgumentError("give either name (a saved template) or path", param="name")
    file = await _template_file(core, name) if name is not None else Path(path or "")
    tpl = tmuxp.load(file, kind=param(params, "kind", str, None))
    tm = await core.terminals()
    return await apply_template(tm, tpl, session=param(params, "session", str, None))


@METHODS.method("template.freeze")
async def template_freeze(core: Any, params: Params) -> dict[str, Any]:
    session = param(params, "session", str)
    tm = await core.terminals()
    ws = await freeze(tm, session)
    written = dump(ws, param(params, "path", str), force=param(params, "force", bool, False))
    return {"path": written, "windows": len(ws["windows"]),
            "panes": sum(len(w["panes"]) for w in ws["windows"])}  # fmt: skip


@METHODS.method("template.save")
async def template_save(core: Any, params: Params) -> dict[str, Any]:
    session = param(params, "session", str)
    name = _check_name(param(params, "name", str, None) or session)
    params = {**params, "path": str(templates_dir(core) / f"{name}.yaml")}
    return {"name": name, **await template_freeze(core, params)}


@METHODS.method("template.import")
async def template_import(core: Any, params: Params) -> dict[str, Any]:
    """Check a tmuxp or tmuxinator file and keep it as a saved template (tmuxp YAML)."""
    src = Path(param(params, "path", str)).expanduser()
    tpl = tmuxp.load(src, kind=param(params, "kind", str, None))
    name = _check_name(param(params, "name", str, None) or src.stem)
    ws = _to_tmuxp(tpl)
    written = dump(
        ws, templates_dir(core) / f"{name}.yaml", force=param(params, "force", bool, False)
    )
    return {"name": name, "path": written, **tpl.counts()}


def _to_tmuxp(tpl: Any) -> dict[str, Any]:
    """The expanded template as an explicit tmuxp workspace (no shorthand left)."""
    windows = []
    for w in tpl.windows:
        win: dict[str, Any] = {"window_name": w.name}
        for key, value in (("layout", w.layout), ("start_directory", w.cwd),
                           ("window_index", w.index)):  # fmt: skip
            if value is not None:
                win[key] = value
        if w.focus:
            win["focus"] = True
        if w.options:
            win["options"] = w.options
        if w.options_after:
            win["options_after"] = w.options_after
        panes = []
        for p in w.panes:
            pane: dict[str, Any] = {
                "shell_command": [
                    {
                        "cmd": c.cmd,
                        "enter": c.enter,
                        "sleep_before": c.sleep_before,
                        "sleep_after": c.sleep_after,
                    }
                    if (not c.enter or c.sleep_before or c.sleep_after)
                    else c.cmd
                    for c in p.commands
                ]
            }
            if p.cwd:
                pane["start_directory"] = p.cwd
            if p.env:
                pane["environment"] = p.env
            if p.shell:
                pane["shell"] = p.shell
            if p.focus:
                pane["focus"] = True
            if p.suppress_history:
                pane["suppress_history"] = True
            panes.append(pane)
        win["panes"] = panes
        windows.append(win)
    out: dict[str, Any] = {"session_name": tpl.session}
    if tpl.cwd:
        out["start_directory"] = tpl.cwd
    out["windows"] = windows
    return out


@METHODS.method("template.snapshot")
async def template_snapshot(core: Any, params: Params) -> dict[str, Any]:
    """Snapshot every session's layout now (what ``[templates] snapshot_minutes`` does)."""
    from orchflow_core.templates import snapshots

    return await snapshots.take(core)


@METHODS.method("template.snapshots")
async def template_snapshots(core: Any, params: Params) -> dict[str, Any]:
    """The snapshots, newest first: ``{session?, limit? = 50}``."""
    from orchflow_core.templates import snapshot_store

    limit = param(params, "limit", int, 50)
    if not 1 <= limit <= 1000:
        raise InvalidArgumentError(f"limit must be 1 to 1000, got {limit}", param="limit")
    session = param(params, "session", str, None)
    minutes = core.config.get("templates", {}).get("snapshot_minutes")
    rows = await snapshot_store.listing(await core.db(), session, limit)
    return {"snapshot_minutes": minutes, "snapshots": rows}


@METHODS.method("template.restore")
async def template_restore(core: Any, params: Params) -> dict[str, Any]:
    """Bring sessions back from a snapshot: ``{snapshot?, session?}`` (default: every session
    of the latest snapshot sweep). Applying reconciles: only what is missing is made."""
    from orchflow_core.templates import snapshots

    snapshot = param(params, "snapshot", int, None)
    return await snapshots.restore(
        core, snapshot=snapshot, session=param(params, "session", str, None)
    )
