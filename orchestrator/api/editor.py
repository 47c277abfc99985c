"""``editor.*``: an editor offers its buffers to ACP agents' ``fs/*`` (orchestrator/agents/
editor_fs.py). Registered into ``orchestrator.methods``' one table (imported there).

    editor.attach {}                    -> {attached: true, timeout_s}; then editor.fs
                                           notifications on this connection
    editor.fs_reply {request_id, loaded, content?, saved?, error?} -> {delivered}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.methods import Args, _text, method
from orchflow_core.api import param
from orchflow_core.errors import InvalidArgumentError
from orchflow_core.rpc.server import ConnectionContext

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator


@method("editor.attach")
async def editor_attach(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{attached: true, timeout_s}: this connection is an editor; ACP agents'
    fs/read_text_file and fs/write_text_file ask it (``editor.fs``) before the disk, until
    it disconnects. The most recent attached editor is asked."""
    app.editor_fs.attach(ctx)
    return {"attached": True, "timeout_s": app.editor_fs.timeout_s}


@method("editor.fs_reply", "request_id", "loaded", "content", "saved", "error")
async def editor_fs_reply(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{delivered}: the editor's answer to an ``editor.fs`` request. ``loaded`` false: the
    file is not in a loaded buffer (the agent gets the disk); a read's ``content`` is the
    buffer's text; a write's ``saved`` says the buffer was written to disk; ``error`` what
    went wrong in the editor. ``delivered`` false: the wait had ended (the disk was used)."""
    request_id = _text(args, "request_id")
    loaded = param(args, "loaded", bool)
    answer: dict[str, Any] = {"loaded": loaded}
    for key, kind in (("content", str), ("saved", bool), ("error", str)):
        if key in args and args[key] is not None:
            answer[key] = param(args, key, kind)
    if loaded and "content" not in answer and "saved" not in answer and "error" not in answer:
        raise InvalidArgumentError(
            "a loaded buffer's answer needs content (read), saved (write) or error",
            param="loaded",
        )
    return {"delivered": app.editor_fs.reply(request_id, answer)}
