"""Extra pane identity tags in tmux: ``@orchflow_owner`` and ``@orchflow_command``.

``create_pane`` tags a pane with ``@orchflow_id``, ``@orchflow_type`` and ``@orchflow_name``;
the TerminalManager adds, right after creating it, who made it (``host:<pid>`` or
``orchestrator:<pid>``) and the command it was made for, so that a process that finds the
pane with no row in ``orchflow.db`` adopts it with its owner and command, not a blank.

The command is stored JSON-encoded (ASCII, one line), so any text survives tmux's format
output; the owner is plain text.

These are functions over ``TmuxBackend``'s command pipeline rather than methods on it only
because ``mux/tmux.py`` is being changed in parallel (pane launch); they belong there as
``set_tags``/``tags`` once that lands. Backends without tmux user options (the native PTY
backend lives inside one process, so nobody else can adopt its panes) get no tags.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from orchflow_core.mux.backend import MuxBackend

log = logging.getLogger(__name__)

TAGS = ("owner", "command")


def _tmux(backend: MuxBackend) -> bool:
    return getattr(backend, "name", "") == "tmux" and hasattr(backend, "_pipeline")


async def set_tags(backend: MuxBackend, pane_id: str, tags: Mapping[str, str | None]) -> None:
    """Set ``@orchflow_<name>`` for each tag whose value is not None (tmux only)."""
    if not _tmux(backend):
        return
    cmds = []
    for name, value in tags.items():
        if name not in TAGS:
            raise ValueError(f"unknown pane tag {name!r}")
        if value is None:
            continue
        text = json.dumps(value) if name == "command" else value
        cmds.append(["set-option", "-p", "-t", pane_id, f"@orchflow_{name}", text])
    if cmds:
        await backend._pipeline(cmds, pane_id=pane_id)  # type: ignore[attr-defined]


async def get_tags(backend: MuxBackend, pane_id: str) -> dict[str, str | None]:
    """The pane's extra tags (None where unset, or on a backend without tags)."""
    if not _tmux(backend):
        return dict.fromkeys(TAGS)
    cmds = [["show-options", "-p", "-q", "-v", "-t", pane_id, f"@orchflow_{n}"] for n in TAGS]
    replies = await backend._pipeline(cmds, pane_id=pane_id)  # type: ignore[attr-defined]
    out: dict[str, str | None] = {}
    for name, reply in zip(TAGS, replies, strict=True):
        text = reply.text.strip()
        if name == "command" and text:
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = text  # set by hand: take it as it is
            text = decoded if isinstance(decoded, str) else ""
        out[name] = text or None
    return out
