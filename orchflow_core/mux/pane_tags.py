"""Extra pane identity tags in tmux: ``@orchflow_owner`` and ``@orchflow_command``.

``create_pane`` tags a pane with ``@orchflow_id``, ``@orchflow_type`` and ``@orchflow_name``;
the TerminalManager adds, right after creating it, who made it (``host:<pid>`` or
``orchestrator:<pid>``) and the command it was made for, so that a process that finds the
pane with no row in ``orchflow.db`` adopts it with its owner and command, not a blank.

The command is stored JSON-encoded (ASCII, one line), so any text survives tmux's format
output; the owner is plain text.

The backend stores them (``TmuxBackend.set_user_options``/``user_options``); this module
only knows which tags there are and how they are encoded. Backends without user options
(the native PTY backend lives inside one process, so nobody else can adopt its panes) get
no tags.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from orchflow_core.mux.backend import MuxBackend

log = logging.getLogger(__name__)

TAGS = ("owner", "command")


async def set_tags(backend: MuxBackend, pane_id: str, tags: Mapping[str, str | None]) -> None:
    """Set ``@orchflow_<name>`` for each tag whose value is not None (tmux only)."""
    setter = getattr(backend, "set_user_options", None)
    if setter is None:
        return
    options = {}
    for name, value in tags.items():
        if name not in TAGS:
            raise ValueError(f"unknown pane tag {name!r}")
        if value is not None:
            options[name] = json.dumps(value) if name == "command" else value
    await setter(pane_id, options)


async def get_tags(backend: MuxBackend, pane_id: str) -> dict[str, str | None]:
    """The pane's extra tags (None where unset, or on a backend without tags)."""
    getter = getattr(backend, "user_options", None)
    if getter is None:
        return dict.fromkeys(TAGS)
    values = await getter(pane_id, TAGS)
    out: dict[str, str | None] = {}
    for name in TAGS:
        text = values[name]
        if name == "command" and text:
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = text  # set by hand: take it as it is
            text = decoded if isinstance(decoded, str) else ""
        out[name] = text or None
    return out
