"""The host's side of orchflow_core: one Core on one LoopThread.

Kept free of pynvim so it is tested without an editor; the plugin class only
adds the two hops onto and off pynvim's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchflow_core.api import Params, dispatch
from orchflow_core.core import Core
from orchflow_core.errors import ConfigError, OrchflowError, UnavailableError
from orchflow_core.events import Event
from orchflow_core.registry import load_methods_lazily
from orchflow_core.runtime import LoopThread

load_methods_lazily()

log = logging.getLogger("orchflow.bridge")

EventSink = Callable[[str, dict[str, Any]], None]


def internal_error(method: str, exc: BaseException) -> dict[str, Any]:
    """The error a caller gets for a failure the host did not expect: what happened, no
    traceback (that goes to the log)."""
    what = type(exc).__name__
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return {
        "code": -32603,
        "message": f"internal error in {method}: {what}{': ' + detail if detail else ''}"
        "; see :Orchflow log",
    }


class Bridge:
    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._loop = LoopThread()
        self.core: Core | None = None
        self._ready: asyncio.Event | None = None  # set once init has finished (well or not)
        self._init_params: Params = {}

    def submit(self, method: str, params: Params) -> concurrent.futures.Future[tuple[bool, Any]]:
        """Run ``method`` on the core thread. The future's result is ``(ok, payload)`` for
        every failure an Exception describes; it is cancelled only if the task was."""
        return self._loop.submit(self._run(method, params))

    async def _run(self, method: str, params: Params) -> tuple[bool, Any]:
        try:
            if method == "init":
                return await self._init(params)
            return await dispatch(await self._core(), method, params)
        except OrchflowError as exc:
            log.info("%s failed: %s", method, exc.message)
            return False, exc.to_dict()
        except Exception as exc:
            log.exception("host error in %s", method)
            return False, internal_error(method, exc)

    async def _core(self) -> Core:
        """The Core, once init has made it. If making it failed (an unwritable log dir,
        say), every call tries again and answers with that failure."""
        if self._ready is None:  # a call that came before init (tests): init on defaults
            await self._init({})
        assert self._ready is not None
        await self._ready.wait()
        if self.core is None:
            await self._init(self._init_params)
        if self.core is None:  # pragma: no cover - _init raises or sets it
            raise UnavailableError("orchflow's host has no core; see :Orchflow log")
        return self.core

    async def _init(self, params: Params) -> tuple[bool, Any]:
        self._init_params = params
        if self._ready is None:
            self._ready = asyncio.Event()
        try:
            return await self._start_core(params)
        finally:
            self._ready.set()

    async def _start_core(self, params: Params) -> tuple[bool, Any]:
        overrides = params.get("overrides") or {}
        cwd = params.get("cwd")
        root = Path(cwd) if isinstance(cwd, str) and Path(cwd).is_dir() else None
        error: dict[str, Any] | None = None
        try:
            core = Core(
                overrides if isinstance(overrides, dict) else {}, project_root=root, role="host"
            )
        except ConfigError as exc:  # bad setup() overrides: fall back to defaults
            core = Core({}, project_root=root, role="host")
            error = exc.to_dict()
        self.core = core
        core.events.subscribe(self._forward)
        if core.config["templates"].get("snapshot_minutes"):  # the running layout, every N min
            from orchflow_core.templates import snapshots

            snapshots.start(core)
        # The state DB opens on first need (panes, history): calls like version never
        # pay for aiosqlite and migrations, and a broken state dir is named by the
        # call that needed it.
        if error is not None:
            return False, error
        if core.config_error is not None:
            return False, core.config_error.to_dict()
        if core.log_error is not None:  # the core works; the user must still hear it
            return False, core.log_error.to_dict()
        return True, {"config": core.config}

    def _forward(self, event: Event) -> None:
        try:
            self._sink(event.kind, event.data)
        except Exception:
            log.exception("event sink failed for %s", event.kind)

    def close(self) -> None:
        if self.core is not None:
            self._loop.submit(_close(self.core)).result(timeout=10)
        self._loop.stop()


async def _close(core: Core) -> None:
    if core.config["templates"].get("snapshot_minutes"):
        from orchflow_core.templates import snapshots

        snapshots.stop(core)
    await core.close()
