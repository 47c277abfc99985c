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

from orchflow.bridge import Bridge, internal_error

log = logging.getLogger("orchflow.host")


@pynvim.plugin
class OrchflowPlugin:
    def __init__(self, nvim: pynvim.Nvim) -> None:
        self.nvim = nvim
        self.bridge = Bridge(self._push_event)

    @pynvim.rpc_export("orchflow_call", sync=False)  # type: ignore[untyped-decorator]
    def call(self, call_id: int, method: str, params: dict[str, Any]) -> None:
        try:
            future = self.bridge.submit(method, params)
        except Exception as exc:  # the core thread is gone: still one answer
            log.exception("could not start %s", method)
            self._send(call_id, False, internal_error(method, exc))
            return
        future.add_done_callback(partial(self._deliver, call_id, method))

    def _deliver(
        self, call_id: int, method: str, future: concurrent.futures.Future[tuple[bool, Any]]
    ) -> None:
        """Runs on the core thread when a call ends: exactly one answer per call, whatever
        happened (the bridge turns exceptions into errors; cancellation lands here)."""
        ok: bool
        payload: Any
        try:
            ok, payload = future.result()
        except concurrent.futures.CancelledError:
            log.warning("%s (call %s) was cancelled inside the host", method, call_id)
            why = f"{method} was cancelled inside orchflow's host; see :Orchflow log"
            ok, payload = False, {"code": -32603, "message": why}
        except BaseException as exc:
            log.error("%s (call %s) failed outside its handler", method, call_id, exc_info=exc)
            ok, payload = False, internal_error(method, exc)
            if not isinstance(exc, Exception):
                self._send(call_id, ok, payload)
                raise
        self._send(call_id, ok, payload)

    def _send(self, call_id: int, ok: bool, payload: Any) -> None:
        # Hop to pynvim's loop before touching the API.
        try:
            self.nvim.async_call(self._reply, call_id, ok, payload)
        except Exception:
            log.exception("could not schedule the answer to call %s", call_id)

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
            try:
                self.nvim.exec_lua(
                    "require('orchflow.host')._reply(...)", call_id, False, error, async_=True
                )
            except Exception:
                log.exception("could not deliver the error for call %s either", call_id)

    def _push_event(self, kind: str, data: dict[str, Any]) -> None:
        """Called on the core thread for each event the UI listens to."""
        self.nvim.async_call(self._emit, kind, data)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self.nvim.exec_lua("require('orchflow.host')._event(...)", kind, data, async_=True)
        except Exception:
            log.exception("could not deliver event %s", kind)
