"""Host and JSON-RPC methods for sessions and panes (``session.*``, ``pane.*``).

Every handler goes through ``terminal_method``: when the tmux server has gone away
it reports that (the ``tmux.lost`` event), attaches again (starting a new server),
reconciles, and retries the call once.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import (
    InvalidArgumentError,
    OrchflowError,
    TmuxUnavailableError,
    UnavailableError,
)
from orchflow_core.project.detect import DETECTED_TYPES

if TYPE_CHECKING:
    from orchflow_core.core import Core
    from orchflow_core.terminal.manager import TerminalManager

# Who asks, for the rules (orchflow_core/protocol): the Neovim user, unless the serving
# process says otherwise for this request (the orchestrator sets "mcp" for its JSON-RPC
# clients). A context variable: set per request task, never by a parameter a client sends.
ORIGIN: contextvars.ContextVar[str] = contextvars.ContextVar("origin", default="user")

TerminalHandler = Callable[["TerminalManager", Params, "Core"], Awaitable[Any]]


def terminal_method(name: str) -> Callable[[TerminalHandler], TerminalHandler]:
    def register(fn: TerminalHandler) -> TerminalHandler:
        async def handler(core: Core, params: Params) -> Any:
            tm = await core.terminals()
            try:
                return await fn(tm, params, core)
            except TmuxUnavailableError as lost:
                try:
                    counts = await tm.recover()
                except OrchflowError:
                    raise lost from None
                core.events.publish("tmux.lost", reason=lost.message, closed=counts["closed"])
                return await fn(tm, params, core)

        METHODS.method(name)(handler)
        return fn

    return register


@terminal_method("session.new")
async def session_new(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await tm.new_session(param(params, "name", str), cwd=param(params, "cwd", str, None))


@terminal_method("session.list")
async def session_list(tm: TerminalManager, params: Params, core: Core) -> list[dict[str, Any]]:
    return await tm.sessions()


@terminal_method("session.switch")
async def session_switch(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await tm.switch_session(param(params, "name", str))


@terminal_method("session.rename")
async def session_rename(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await tm.rename_session(param(params, "old", str), param(params, "new", str))


@terminal_method("session.kill")
async def session_kill(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    name = param(params, "name", str)
    await tm.kill_session(name)
    return {"name": name}


@terminal_method("pane.new")
async def pane_new(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    """A pane; a dev, test, repl, build or lint pane with no ``cmd`` runs the command
    detected in the project (``cwd``, else the project root): ``make test``, ``pytest``,
    ``npm run build``... (orchflow_core/project/detect.py). ``meta.source`` says where it
    came from; a project with none is an error that says what was looked at."""
    env = param(params, "env", dict, None)
    pane_type = param(params, "type", str, "shell")
    command = param(params, "cmd", str, None)
    cwd = param(params, "cwd", str, None)
    meta = None
    if command is None and pane_type in DETECTED_TYPES:
        command, source, cwd = await _detected(pane_type, cwd or str(core.project_root))
        meta = {"source": source}
    return await tm.new_pane(
        pane_type=pane_type,
        command=command,
        name=param(params, "name", str, None),
        cwd=cwd,
        session=param(params, "session", str, None),
        split=param(params, "split", str, "window"),
        env={str(k): str(v) for k, v in env.items()} if env else None,
        meta=meta,
        origin=ORIGIN.get(),
        confirm=param(params, "confirm", str, None),
    )


async def _detected(pane_type: str, cwd: str) -> tuple[str, str | None, str]:
    """(command, where it came from, the directory it was found in) for ``pane_type``."""
    from orchflow_core.project.detect import detect_project_commands

    found = await asyncio.to_thread(detect_project_commands, cwd)
    default = found.commands[pane_type]
    if default.command is None:
        raise InvalidArgumentError(
            f"no {pane_type} command found: {default.reason}; give one: "
            f":Orchflow pane new {pane_type} <command>",
            param="cmd",
            type=pane_type,
            cwd=found.root,
        )
    return default.command, default.source, found.root


@terminal_method("pane.list")
async def pane_list(tm: TerminalManager, params: Params, core: Core) -> list[dict[str, Any]]:
    return await tm.panes(param(params, "session", str, None))


@terminal_method("pane.send")
async def pane_send(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await tm.send(
        param(params, "pane", str),
        param(params, "text", str),
        enter=param(params, "enter", bool, False),
        origin=ORIGIN.get(),
        confirm=param(params, "confirm", str, None),
    )


@terminal_method("pane.run")
async def pane_run(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    """``confirm``: the token a ``confirm`` rule answered with (the user said yes)."""
    return await tm.run(
        param(params, "pane", str),
        param(params, "cmd", str),
        origin=ORIGIN.get(),
        confirm=param(params, "confirm", str, None),
    )


@terminal_method("pane.focus")
async def pane_focus(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await tm.focus(param(params, "pane", str))


@terminal_method("pane.close")
async def pane_close(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await tm.close_pane(param(params, "pane", str))


@terminal_method("pane.attach_command")
async def pane_attach_command(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    """The argv that attaches a tmux client to the pane (for a Neovim terminal split)."""
    rec = tm.resolve(param(params, "pane", str))
    if tm.backend_name != "tmux":
        raise UnavailableError(
            f"attach needs the tmux backend; {tm.backend_name} panes live inside orchflow's host "
            "(use :Orchflow pane output and pane send)"
        )
    await tm.focus(rec.orchflow_id)
    tmux = core.config["tmux"]
    return {
        "argv": [tmux["binary"], "-L", core.tmux_socket(), "attach-session", "-t", rec.pane_id],
        **rec.to_dict(),
    }


@terminal_method("pane.watch")
async def pane_watch(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    """Start pushing a pane's output as ``pane.data`` events; returns the buffered backlog."""
    rec = tm.resolve(param(params, "pane", str))
    sub = await tm.subscribe(rec.orchflow_id)
    watch, backlog = core.watches.start(sub, rec.pane_id)
    return {"watch": watch, "backlog": backlog, **rec.to_dict()}


@terminal_method("pane.unwatch")
async def pane_unwatch(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    watch = param(params, "watch", str)
    core.watches.stop(watch)
    return {"watch": watch}


@terminal_method("pane.search")
async def pane_search(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    """Regex (default) or literal search across the scrollback of every orchflow pane, or one."""
    await tm.refresh()
    ref = param(params, "pane", str, None)
    records = [tm.resolve(ref)] if ref else tm.records()
    hits = await tm.search_scrollback(
        param(params, "pattern", str),
        ref=ref,
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


# -- runs (orchflow_core/terminal/runs.py) ---------------------------------------------------
@terminal_method("run.list")
async def run_list(tm: TerminalManager, params: Params, core: Core) -> list[dict[str, Any]]:
    return await tm.run_tracker.list(
        pane=param(params, "pane", str, None), limit=param(params, "limit", int, 50)
    )


@terminal_method("run.get")
async def run_get(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await tm.run_tracker.get(param(params, "id", str))


@terminal_method("run.wait")
async def run_wait(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    timeout: float = param(params, "timeout_s", (int, float), 30.0)
    return await tm.run_tracker.wait(param(params, "id", str), timeout_s=timeout)


@terminal_method("run.cancel")
async def run_cancel(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    timeout: float = param(params, "timeout_s", (int, float), 2.0)
    return await tm.run_tracker.cancel(param(params, "id", str), timeout_s=timeout)
