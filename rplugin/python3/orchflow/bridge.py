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
from orchflow_core.errors import OrchflowError
from orchflow_core.events import Event
from orchflow_core.registry import load_methods_lazily
from orchflow_core.runtime import LoopThread

load_methods_lazily()

log = logging.getLogger("orchflow.bridge")

EventSink = Callable[[str, dict[str, Any]], None]


class Bridge:
    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._loop = LoopThread()
        self.core: Core | None = None
        self._ready: asyncio.Event | None = None  # set once init has finished (well or not)

    def submit(self, method: str, params: Params) -> concurrent.futures.Future[tuple[bool, Any]]:
        return self._loop.submit(self._run(method, params))

    async def _run(self, method: str, params: Params) -> tuple[bool, Any]:
        if method == "init":
            return await self._init(params)
        # every other call waits until init has made the Core (with its config)
        if self._ready is None:
            await self._init({})
        assert self._ready is not None
        await self._ready.wait()
        assert self.core is not None
        return await dispatch(self.core, method, params)

    async def _init(self, params: Params) -> tuple[bool, Any]:
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
            self.core = Core(
                overrides if isinstance(overrides, dict) else {}, project_root=root, role="host"
            )
        except OrchflowError as exc:  # bad setup() overrides: fall back to defaults
            self.core = Core({}, project_root=root, role="host")
            error = exc.to_dict()
        self.core.events.subscribe(self._forward)
        # The state DB opens on first need (panes, history): calls like version never
        # pay for aiosqlite and migrations, and a broken state dir is named by the
        # call that needed it.
        if error is not None:
            return False, error
        if self.core.config_error is not None:
            return False, self.core.config_error.to_dict()
        return True, {"config": self.core.config}

    def _forward(self, event: Event) -> None:
        try:
            self._sink(event.kind, event.data)
        except Exception:
            log.exception("event sink failed for %s", event.kind)

    def close(self) -> None:
        if self.core is not None:
            self._loop.submit(self.core.close()).result(timeout=10)
        self._loop.stop()
