"""Snapshots of the running layout: every session on orchflow's tmux server frozen (as
``template.freeze`` does) into SQLite, on demand (``template.snapshot``) or every
``[templates] snapshot_minutes`` (off by default) while the Neovim host runs; and restored
(``template.restore``) by applying the frozen workspace, which reconciles: after tmux was
killed (a reboot) the sessions come back with their windows, panes, cwds and commands; a
session still running only gets what it lacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import (
    BackendError,
    NotFoundError,
    OrchflowError,
    TmuxUnavailableError,
)
from orchflow_core.mux.control_client import HIDDEN_SESSION
from orchflow_core.templates import snapshot_store as store
from orchflow_core.templates.apply import apply
from orchflow_core.templates.freeze import freeze
from orchflow_core.templates.tmuxp import from_tmuxp
from orchflow_core.templates.windows import TmuxWindows

if TYPE_CHECKING:
    from orchflow_core.core import Core

log = logging.getLogger(__name__)
KEEP_PER_SESSION = 20
_TASKS: weakref.WeakKeyDictionary[Any, asyncio.Task[None]] = weakref.WeakKeyDictionary()


async def take(core: Core, *, keep: int = KEEP_PER_SESSION) -> dict[str, Any]:
    """Freeze every session of orchflow's tmux server into one sweep; keeps the latest
    ``keep`` (default 20) snapshots of each session."""
    tm = await core.terminals()
    ops = TmuxWindows.of(tm)
    try:
        names = (await ops.tmux("list-sessions", "-F", "#{session_name}")).split("\n")
    except BackendError:
        names = []  # no server: nothing runs, nothing to keep
    workspaces = []
    for name in (n for n in names if n and n != HIDDEN_SESSION):  # not orchflow's own
        ws = await freeze(tm, name)
        if ws["windows"]:
            workspaces.append(ws)
    taken_at = time.time()
    ids = await store.save(await core.db(), taken_at, workspaces, keep=keep) if workspaces else []
    snaps = [
        {"id": i, "session": ws["session_name"], "windows": len(ws["windows"]),
         "panes": sum(len(w["panes"]) for w in ws["windows"])}
        for i, ws in zip(ids, workspaces, strict=True)
    ]  # fmt: skip
    core.events.publish("template.snapshot", taken_at=taken_at, snapshots=snaps)
    return {"taken_at": taken_at, "snapshots": snaps}


async def restore(
    core: Core, *, snapshot: int | None = None, session: str | None = None
) -> dict[str, Any]:
    """Apply a snapshot (by id; else the latest of ``session``; else every session of the
    latest sweep). Returns ``{restored: [{snapshot, session, created, existing, drift}]}``."""
    db = await core.db()
    if snapshot is not None:
        ids = [snapshot]
    else:
        ids = await store.latest_sweep(db, session)
        if not ids:
            what = f"of session {session!r} " if session else ""
            raise NotFoundError(
                f"no snapshot {what}yet (template.snapshot, or [templates] snapshot_minutes)",
                session=session,
            )
    tm = await core.terminals()
    out = []
    for snap_id in ids:
        try:
            row, ws = await store.workspace(db, snap_id)
        except LookupError:
            raise NotFoundError(f"no snapshot {snap_id} (see template.snapshots)") from None
        tpl = from_tmuxp(ws, source=f"snapshot {snap_id} of {row['session']}")
        target = session if snapshot is not None else None
        try:
            result = await apply(tm, tpl, session=target)
        except TmuxUnavailableError as lost:  # the server was killed under this process
            try:
                counts = await tm.recover()  # a new server; the dead panes are forgotten
            except OrchflowError:
                raise lost from None
            core.events.publish("tmux.lost", reason=lost.message, closed=counts["closed"])
            result = await apply(tm, tpl, session=target)  # reconciles what was made
        out.append({"snapshot": snap_id, **result})
    return {"restored": out}


async def _every(core: Core, minutes: float) -> None:
    from orchflow_core.modules.registry import modules_of

    while True:
        await asyncio.sleep(minutes * 60)
        try:
            ms = await modules_of(core)
            if ms.modules.get("templates") is None or ms.get("templates").state != "enabled":
                continue  # the templates module is off: no snapshots
            await take(core)
        except OrchflowError as exc:
            log.info("snapshot skipped: %s", exc.message)
        except Exception:
            log.exception("snapshot failed")


def start(core: Core) -> bool:
    """Start the periodic snapshots when ``[templates] snapshot_minutes`` is set; idempotent.
    Returns whether they run."""
    minutes = core.config.get("templates", {}).get("snapshot_minutes")
    if not minutes:
        return False
    task = _TASKS.get(core)
    if task is None or task.done():
        _TASKS[core] = asyncio.get_running_loop().create_task(_every(core, float(minutes)))
    return True


def stop(core: Core) -> None:
    task = _TASKS.pop(core, None)
    if task is not None:
        task.cancel()
