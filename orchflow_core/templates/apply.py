"""Apply a template to a session by reconciling: create only what is missing.

A template's window matches the session's first window of the same name (tmuxp#872 asks
tmuxp for exactly this); its panes match that window's panes by position. What matches is
left alone — no command sent, not re-laid-out unless a missing pane is added to its window
(which then gets the template's layout, to make room) — and compared: a pane whose
cwd differs from the template's, or (for a pane orchflow made from a template, which
records what it ran) whose commands differ, is reported as drift, as is a window with more
panes than the template. Missing windows and panes are made through ``TerminalManager``
(so they are orchflow panes) and their commands are runs (``TerminalManager.run``: the
rules see them, history records them); a command with ``enter: false`` is typed, not run.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from orchflow_core.errors import BackendError
from orchflow_core.templates.model import PaneSpec, Template, WindowSpec
from orchflow_core.templates.windows import LiveWindow, TmuxWindows

log = logging.getLogger(__name__)


def _same_dir(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _meta(tpl: Template, w: WindowSpec, j: int, p: PaneSpec) -> dict[str, Any]:
    return {
        "template": tpl.session,
        "window": w.name,
        "pane": j,
        "commands": [c.cmd for c in p.commands],
        "cwd": p.cwd,
    }


def _drift(tm: Any, w: WindowSpec, live: LiveWindow) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, (lp, spec) in enumerate(zip(live.panes, w.panes, strict=False)):
        at = {"window": w.name, "pane": j, "pane_id": lp.pane_id}
        if spec.cwd and lp.cwd and not _same_dir(lp.cwd, spec.cwd):
            out.append({**at, "field": "cwd", "template": spec.cwd, "live": lp.cwd})
        rec = tm.record_by_pane_id(lp.pane_id)
        recorded = rec.meta.get("commands") if rec is not None else None
        wanted = [c.cmd for c in spec.commands]
        if recorded is not None and recorded != wanted:
            out.append({**at, "field": "command", "template": wanted, "live": recorded})
    if len(live.panes) > len(w.panes):
        out.append({
            "window": w.name, "field": "panes", "template": len(w.panes),
            "live": len(live.panes),
        })  # fmt: skip
    return out


async def _run_commands(tm: Any, pane_id: str, spec: PaneSpec) -> None:
    for c in spec.commands:
        if c.sleep_before:
            await asyncio.sleep(c.sleep_before)
        text = (" " + c.cmd) if spec.suppress_history else c.cmd
        if c.enter:
            await tm.run(pane_id, text)
        else:
            await tm.send(pane_id, text, enter=False)
        if c.sleep_after:
            await asyncio.sleep(c.sleep_after)


async def apply(tm: Any, tpl: Template, *, session: str | None = None) -> dict[str, Any]:
    """Reconcile ``session`` (default: the template's session name) with ``tpl``.

    Returns ``{session, created: {windows, panes}, existing: {windows, panes}, drift}``."""
    name = session or tpl.session
    ops = TmuxWindows.of(tm)
    try:
        await ops.tmux("has-session", "-t", f"={name}")
        new_session = False
    except BackendError:
        new_session = True
    if new_session:
        await tm.new_session(name, cwd=tpl.cwd)
        # a session's (and the server's) options are set only when the session is made
        if tpl.global_options:
            await ops.session_options(name, tpl.global_options, global_=True)
        if tpl.options:
            await ops.session_options(name, tpl.options)
    live_windows = await ops.windows(name)
    placeholder = live_windows[0] if new_session and live_windows else None
    by_name: dict[str, LiveWindow] = {}
    for lw in live_windows:
        if lw is not placeholder:
            by_name.setdefault(lw.name, lw)

    created = {"windows": 0, "panes": 0}
    existing = {"windows": 0, "panes": 0}
    drift: list[dict[str, Any]] = []
    to_run: list[tuple[str, PaneSpec]] = []
    made_windows: list[tuple[WindowSpec, str, list[str]]] = []  # spec, window id, pane ids

    for w in tpl.windows:
        live = by_name.get(w.name)
        pane_ids: list[str] = []
        if live is None:
            p0 = w.panes[0]
            first = await tm.new_pane(
                split="window", session=name, cwd=p0.cwd, env=p0.env or None,
                command=p0.shell, meta=_meta(tpl, w, 0, p0),
            )  # fmt: skip
            window_id = await ops.window_of(first["pane_id"])
            await ops.rename(window_id, w.name)
            if w.options:
                await ops.options(window_id, w.options)
            created["windows"] += 1
            created["panes"] += 1
            pane_ids.append(first["pane_id"])
            to_run.append((first["pane_id"], p0))
            have = 1
            last = first["pane_id"]
        else:
            window_id = live.window_id
            existing["windows"] += 1
            have = min(len(live.panes), len(w.panes))
            existing["panes"] += have
            drift += _drift(tm, w, live)
            last = live.panes[-1].pane_id
        if have < len(w.panes):
            # a split without a target splits the session's current window: make it this one
            await ops.select_window(window_id)
            for j in range(have, len(w.panes)):
                spec = w.panes[j]
                await ops.tmux("select-pane", "-t", last)  # the split goes after it, in order
                pane = await tm.new_pane(
                    split="vertical", session=name, cwd=spec.cwd, env=spec.env or None,
                    command=spec.shell, meta=_meta(tpl, w, j, spec),
                )  # fmt: skip
                created["panes"] += 1
                last = pane["pane_id"]
                pane_ids.append(last)
                to_run.append((pane["pane_id"], spec))
                if w.layout:  # as tmuxp does: keep room for the next split
                    await ops.layout(window_id, w.layout)
        if pane_ids:
            made_windows.append((w, window_id, pane_ids))

    if placeholder is not None:
        await ops.kill_window(placeholder.window_id)
        await ops.tmux("move-window", "-r", "-t", f"={name}:")
    for w, window_id, _ in made_windows:
        if w.index is not None:
            await ops.move(window_id, name, w.index)
        if w.layout:
            await ops.layout(window_id, w.layout)
        if w.options_after:
            await ops.options(window_id, w.options_after)

    await asyncio.gather(*(_run_commands(tm, pid, spec) for pid, spec in to_run))

    if made_windows:  # focus as tmuxp does; nothing is touched when nothing was made
        focus_w = next((m for m in made_windows if m[0].focus), None)
        for w, _window_id, pane_ids in made_windows:
            offset = len(w.panes) - len(pane_ids)
            focused = [pid for k, pid in enumerate(pane_ids) if w.panes[offset + k].focus]
            if focused:
                await ops.tmux("select-pane", "-t", focused[0])
            elif offset == 0:
                await ops.tmux("select-pane", "-t", pane_ids[0])
        target = focus_w or (made_windows[0] if new_session else None)
        if target is not None:
            await ops.select_window(target[1])
    return {"session": name, "created": created, "existing": existing, "drift": drift}
