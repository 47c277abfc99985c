"""Host and JSON-RPC methods for sessions and panes (``session.*``, ``pane.*``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param

if TYPE_CHECKING:
    from orchflow_core.core import Core


@METHODS.method("session.new")
async def session_new(core: Core, params: Params) -> dict[str, Any]:
    tm = await core.terminals()
    return await tm.new_session(param(params, "name", str), cwd=param(params, "cwd", str, None))


@METHODS.method("session.list")
async def session_list(core: Core, params: Params) -> list[dict[str, Any]]:
    return await (await core.terminals()).sessions()


@METHODS.method("session.switch")
async def session_switch(core: Core, params: Params) -> dict[str, Any]:
    return await (await core.terminals()).switch_session(param(params, "name", str))


@METHODS.method("session.rename")
async def session_rename(core: Core, params: Params) -> dict[str, Any]:
    tm = await core.terminals()
    return await tm.rename_session(param(params, "old", str), param(params, "new", str))


@METHODS.method("session.kill")
async def session_kill(core: Core, params: Params) -> dict[str, Any]:
    name = param(params, "name", str)
    await (await core.terminals()).kill_session(name)
    return {"name": name}


@METHODS.method("pane.new")
async def pane_new(core: Core, params: Params) -> dict[str, Any]:
    tm = await core.terminals()
    env = param(params, "env", dict, None)
    return await tm.new_pane(
        pane_type=param(params, "type", str, "shell"),
        command=param(params, "cmd", str, None),
        name=param(params, "name", str, None),
        cwd=param(params, "cwd", str, None),
        session=param(params, "session", str, None),
        split=param(params, "split", str, "window"),
        env={str(k): str(v) for k, v in env.items()} if env else None,
    )


@METHODS.method("pane.list")
async def pane_list(core: Core, params: Params) -> list[dict[str, Any]]:
    return await (await core.terminals()).panes(param(params, "session", str, None))


@METHODS.method("pane.send")
async def pane_send(core: Core, params: Params) -> dict[str, Any]:
    tm = await core.terminals()
    return await tm.send(
        param(params, "pane", str),
        param(params, "text", str),
        enter=param(params, "enter", bool, False),
    )


@METHODS.method("pane.run")
async def pane_run(core: Core, params: Params) -> dict[str, Any]:
    return await (await core.terminals()).run(param(params, "pane", str), param(params, "cmd", str))


@METHODS.method("pane.focus")
async def pane_focus(core: Core, params: Params) -> dict[str, Any]:
    return await (await core.terminals()).focus(param(params, "pane", str))


@METHODS.method("pane.close")
async def pane_close(core: Core, params: Params) -> dict[str, Any]:
    return await (await core.terminals()).close_pane(param(params, "pane", str))


@METHODS.method("pane.attach_command")
async def pane_attach_command(core: Core, params: Params) -> dict[str, Any]:
    """The argv that attaches a tmux client to the pane (for a Neovim terminal split)."""
    tm = await core.terminals()
    rec = tm.resolve(param(params, "pane", str))
    await tm.backend.focus_pane(rec.pane_id)
    tmux = core.config["tmux"]
    return {
        "argv": [tmux["binary"], "-L", core.tmux_socket(), "attach-session", "-t", rec.pane_id],
        **rec.to_dict(),
    }


@METHODS.method("pane.watch")
async def pane_watch(core: Core, params: Params) -> dict[str, Any]:
    """Start pushing a pane's output as ``pane.data`` events; returns the buffered backlog."""
    tm = await core.terminals()
    rec = tm.resolve(param(params, "pane", str))
    sub = await tm.backend.subscribe(rec.pane_id)
    watch, backlog = core.watches.start(sub, rec.pane_id)
    return {"watch": watch, "backlog": backlog, **rec.to_dict()}


@METHODS.method("pane.unwatch")
async def pane_unwatch(core: Core, params: Params) -> dict[str, Any]:
    watch = param(params, "watch", str)
    core.watches.stop(watch)
    return {"watch": watch}


@METHODS.method("pane.search")
async def pane_search(core: Core, params: Params) -> dict[str, Any]:
    """Regex (default) or literal search across the scrollback of every orchflow pane, or one."""
    from orchflow_core.mux.scrollback import search_scrollback

    tm = await core.terminals()
    await tm.refresh()
    ref = param(params, "pane", str, None)
    records = [tm.resolve(ref)] if ref else tm.records()
    hits = await search_scrollback(
        tm.backend,
        param(params, "pattern", str),
        pane_id=records[0].pane_id if ref else None,
        regex=not param(params, "literal", bool, False),
        ignore_case=param(params, "ignore_case", bool, False),
    )
    names = {r.pane_id: r.name for r in records}
    return {
        "panes": len(records),
        "matches": [
            {
                "pane_id": h.pane_id,
                "name": names.get(h.pane_id, ""),
                "line": h.line_no + 1,
                "text": h.text,
            }
            for h in hits
        ],
    }
