"""Freeze a running session into a tmuxp workspace (YAML ``tmuxp load`` accepts).

Each window keeps its name and layout; each pane its cwd and commands: for a pane
orchflow made from a template, the commands it ran; for a pane whose program is not the
shell (an orchflow command pane), that command; otherwise a plain shell (``blank``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from orchflow_core.errors import ConflictError
from orchflow_core.templates.windows import TmuxWindows


def _pane_commands(tm: Any, pane_id: str) -> list[str]:
    rec = tm.record_by_pane_id(pane_id)
    if rec is None:
        return []
    if isinstance(rec.meta.get("commands"), list):
        return [str(c) for c in rec.meta["commands"]]
    return [rec.command] if rec.command else []


async def freeze(tm: Any, session: str) -> dict[str, Any]:
    """The session as a tmuxp workspace dict."""
    await tm.refresh()
    ops = TmuxWindows.of(tm)
    windows = await ops.windows(session)
    out: dict[str, Any] = {"session_name": session, "windows": []}
    for w in windows:
        panes: list[Any] = []
        for p in w.panes:
            pane: dict[str, Any] = {}
            if p.cwd:
                pane["start_directory"] = p.cwd
            cmds = _pane_commands(tm, p.pane_id)
            pane["shell_command"] = cmds if cmds else []
            if p.active and w.active:
                pane["focus"] = True
            panes.append(pane)
        win: dict[str, Any] = {"window_name": w.name, "layout": w.layout, "panes": panes}
        if w.active:
            win["focus"] = True
        out["windows"].append(win)
    return out


def dump(workspace: dict[str, Any], path: str | Path, *, force: bool = False) -> str:
    """Write the workspace to ``path`` (JSON for .json, else YAML); never overwrites
    unless ``force``. Returns the absolute path."""
    p = Path(path).expanduser().resolve()
    if p.exists() and not force:
        raise ConflictError(f"{str(p)!r} exists already (force to overwrite)", path=str(p))
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".json":
        text = json.dumps(workspace, indent=2) + "\n"
    else:
        import yaml  # type: ignore[import-untyped]

        text = yaml.safe_dump(workspace, sort_keys=False, default_flow_style=False)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
    return str(p)
