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

Which editor (several Neovims may share one orchestrator service), first that applies:

1. the editor connection that created the agent (``created_by``), while it is connected,
   when it has the file loaded;
2. an editor that has the file loaded in a buffer: every other attached editor is asked
   at once (a ``read``, bounded by ``timeout_s``), the most recently attached of those that
   have it serves (a write then goes to that one);
3. with a single editor to ask, it is asked directly (the most recent attached: a sidecar
   has exactly one, the Neovim that started it);
4. else the disk.

No editor attached: ``ask`` answers None at once (the disk). An editor that does not answer
within ``timeout_s``: it counts as not having the file, and a log line says so; a late
answer is ignored. An answer names the connection that gave it (``editor``).
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
        self._creators: dict[str, ConnectionContext] = {}  # agent id -> its editor

    def created_by(self, agent_id: str, ctx: ConnectionContext) -> None:
        """Agent ``agent_id`` was made by connection ``ctx``: while ``ctx`` is an attached
        editor, that agent's fs/* ask it first."""
        if ctx.closed:
            return
        self._creators[agent_id] = ctx
        ctx.add_cleanup(lambda: self._forget_creator(agent_id, ctx))

    def _forget_creator(self, agent_id: str, ctx: ConnectionContext) -> None:
        if self._creators.get(agent_id) is ctx:
            del self._creators[agent_id]

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

    async def ask(
        self, op: str, path: str, content: str | None = None, *, agent: str | None = None
    ) -> dict[str, Any] | None:
        """The answer to ``op`` on ``path`` (an absolute, resolved path) of the editor that
        serves agent ``agent`` (see the module docstring), or None when no editor is
        attached or none answered within ``timeout_s`` (logged): the disk."""
        live = [c for c in self._editors if not c.closed]
        creator = self._creators.get(agent) if agent is not None else None
        answer: dict[str, Any] | None = None
        if creator is not None and creator in live:
            answer = await self._ask_one(creator, op, path, content)
            if answer is not None and answer.get("loaded"):
                return answer
            live.remove(creator)
        if len(live) == 1 and answer is None:
            return await self._ask_one(live[0], op, path, content)
        if not live:
            return answer
        probes = await asyncio.gather(*(self._ask_one(c, "read", path) for c in live))
        having = [c for c, a in zip(live, probes, strict=True) if a and a.get("loaded")]
        if not having:
            return answer or next((a for a in probes if a is not None), None)
        chosen = having[-1]  # the most recently attached of those that have it
        if op == "read":
            return probes[live.index(chosen)]
        return await self._ask_one(chosen, op, path, content)

    async def _ask_one(
        self, ctx: ConnectionContext, op: str, path: str, content: str | None = None
    ) -> dict[str, Any] | None:
        """Editor ``ctx``'s answer (with ``editor``: its connection id), or None."""
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
                return {**await future, "editor": ctx.id}
        except TimeoutError:
            log.warning(
                "the editor (connection %s) did not answer %s %s within %g s: "
                "taken as not having it (else the disk)",
                ctx.id,
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
