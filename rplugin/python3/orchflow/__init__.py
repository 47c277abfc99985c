"""orchflow's Neovim host: a thin adapter between Lua and orchflow_core.

Lua starts this host with ``jobstart(..., {rpc = true})`` (see lua/orchflow/host.lua)
and sends every call as the ``orchflow_call`` notification. The handler only
schedules the work on orchflow_core's own asyncio thread and returns, so it
never blocks Neovim; the answer goes back through ``nvim.async_call`` as a
call to ``require("orchflow.host")._reply``.
"""

from __future__ import annotations

import concurrent.futures
import logging
from functools import partial
from typing import Any

import pynvim

from orchflow.bridge import Bridge

log = logging.getLogger("orchflow.host")


@pynvim.plugin
class OrchflowPlugin:
    def __init__(self, nvim: pynvim.Nvim) -> None:
        self.nvim = nvim
        self.bridge = Bridge(self._push_event)

    @pynvim.rpc_export("orchflow_call", sync=False)  # type: ignore[untyped-decorator]
    def call(self, call_id: int, method: str, params: dict[str, Any]) -> None:
        future = self.bridge.submit(method, params)
        future.add_done_callback(partial(self._deliver, call_id))

    def _deliver(self, call_id: int, future: concurrent.futures.Future[tuple[bool, Any]]) -> None:
        # Runs on the core thread: hop to pynvim's loop before touching the API.
        ok, payload = future.result()
        self.nvim.async_call(self._reply, call_id, ok, payload)

    def _reply(self, call_id: int, ok: bool, payload: Any) -> None:
        try:
            self.nvim.exec_lua(
                "require('orchflow.host')._reply(...)", call_id, ok, payload, async_=True
            )
        except Exception:
            log.exception("could not deliver the answer to call %s", call_id)
            error = {
                "code": -32603,
                "message": "orchflow: the answer could not be sent; see :Orchflow log",
            }
            self.nvim.exec_lua(
                "require('orchflow.host')._reply(...)", call_id, False, error, async_=True
            )

    def _push_event(self, kind: str, data: dict[str, Any]) -> None:
        """Called on the core thread for each event the UI listens to."""
        self.nvim.async_call(self._emit, kind, data)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self.nvim.exec_lua("require('orchflow.host')._event(...)", kind, data, async_=True)
        except Exception:
            log.exception("could not deliver event %s", kind)
