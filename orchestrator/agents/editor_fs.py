"""ACP ``fs/*`` through the editor: ask the connected Neovim for a file's loaded buffer.

An editor connection (the Neovim host's link, ``editor.attach``) offers its buffers to
the ACP agents of this orchestrator. For an agent's ``fs/read_text_file`` or
``fs/write_text_file`` (the path already confined to the agent's cwd), the orchestrator
sends that connection the notification

    editor.fs {request_id, op: "read" | "write", path, content?}

and the editor answers with the method ``editor.fs_reply {request_id, loaded, content?,
saved?, error?}``: ``loaded`` false means the file is not loaded in a buffer (the agent
gets the disk). Neovim answers from its own loop (the host pushes the notification with
an async call; Lua reads or sets the buffer and calls back), so nothing in Neovim waits.

Which editor: the most recent attached connection that is still open (a sidecar has
exactly one, the Neovim that started it). No editor attached: ``ask`` answers None at
once (the disk). An editor that does not answer within ``timeout_s``: None and a log
line (the disk); a late answer is ignored.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from orchflow_core.rpc.server import ConnectionContext

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0  # how long an agent's fs call waits for the editor before the disk
EDITOR_KEY = "editor_fs"  # ConnectionContext.data key marking an attached editor


class EditorFs:
    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._editors: list[ConnectionContext] = []  # oldest first
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def attach(self, ctx: ConnectionContext) -> None:
        """``ctx`` is an editor: agents' fs calls ask it first, until it disconnects."""
        if ctx.data.get(EDITOR_KEY):
            return
        ctx.data[EDITOR_KEY] = True
        self._editors.append(ctx)
        ctx.add_cleanup(lambda: self._detach(ctx))
        log.info("editor attached (connection %s): ACP fs/* go through its buffers", ctx.id)

    def _detach(self, ctx: ConnectionContext) -> None:
        if ctx in self._editors:
            self._editors.remove(ctx)
            log.info("editor detached (connection %s)", ctx.id)

    def editor(self) -> ConnectionContext | None:
        live = [c for c in self._editors if not c.closed]
        return live[-1] if live else None

    @property
    def attached(self) -> bool:
        return self.editor() is not None

    async def ask(self, op: str, path: str, content: str | None = None) -> dict[str, Any] | None:
        """The editor's answer to ``op`` on ``path`` (an absolute, resolved path), or None
        when no editor is attached or none answered within ``timeout_s`` (logged)."""
        ctx = self.editor()
        if ctx is None:
            return None
        request_id = f"fs{next(self._ids)}"
        params: dict[str, Any] = {"request_id": request_id, "op": op, "path": path}
        if content is not None:
            params["content"] = content
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            if not ctx.push("editor.fs", params):
                log.warning("editor %s is gone: %s %s from the disk", ctx.id, op, path)
                return None
            async with asyncio.timeout(self.timeout_s):
                return await future
        except TimeoutError:
            log.warning(
                "the editor did not answer %s %s within %g s: using the disk",
                op,
                path,
                self.timeout_s,
            )
            return None
        finally:
            self._pending.pop(request_id, None)

    def reply(self, request_id: str, answer: dict[str, Any]) -> bool:
        """Deliver the editor's answer; False when nobody waits for it (late or unknown)."""
        future = self._pending.get(request_id)
        if future is None or future.done():
            log.info("editor answer %s came after its wait ended: ignored", request_id)
            return False
        future.set_result(answer)
        return True
