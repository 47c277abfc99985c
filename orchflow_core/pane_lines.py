"""``pane.last_lines``: the last line on the screen of the panes asked for (the dashboard).

The dashboard keeps its own copy of the pane records and applies the pane events
to it; only its "last line" column needs tmux, and only for panes that printed.
This costs one ``capture-pane`` per pane asked for, plus one ``list-panes`` every
``REFRESH_EVERY_S`` at most (``refresh``: a pane that died or vanished meanwhile is
reported by its ``pane.state``/``pane.closed`` event), where ``session.list`` costs
``list-sessions``, ``list-panes`` and a ``capture-pane`` for every pane.

It belongs with the other ``pane.*`` methods in terminal/methods.py; it lives here
while that package is being reworked.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import TYPE_CHECKING

from orchflow_core.api import Params, param
from orchflow_core.errors import InvalidArgumentError, NotFoundError, OrchflowError
from orchflow_core.mux.shell_integration import unwrap_echo
from orchflow_core.terminal.methods import terminal_method

if TYPE_CHECKING:
    from orchflow_core.core import Core
    from orchflow_core.terminal.manager import TerminalManager

log = logging.getLogger(__name__)

MAX_PANES = 200
REFRESH_EVERY_S = 5.0

_refreshed: weakref.WeakKeyDictionary[TerminalManager, float] = weakref.WeakKeyDictionary()


@terminal_method("pane.last_lines")
async def pane_last_lines(tm: TerminalManager, params: Params, core: Core) -> dict[str, str]:
    """``{panes: [ref]}`` -> ``{pane_id: last line}``; a pane gone meanwhile is left out."""
    refs: list[object] = param(params, "panes", list)
    if len(refs) > MAX_PANES or not all(isinstance(r, str) and r for r in refs):
        raise InvalidArgumentError(
            f"parameter 'panes' must be a list of at most {MAX_PANES} pane ids or names",
            param="panes",
        )
    if time.monotonic() - _refreshed.get(tm, -REFRESH_EVERY_S) >= REFRESH_EVERY_S:
        _refreshed[tm] = time.monotonic()
        await tm.refresh()
    out: dict[str, str] = {}
    for ref in refs:
        assert isinstance(ref, str)
        try:
            pane_id = tm.resolve(ref).pane_id
            text = await tm.backend.capture(pane_id, start=0)
        except NotFoundError:
            continue  # closed since the caller looked: its pane.closed event says so
        except OrchflowError as exc:
            log.debug("no last line for %s: %s", ref, exc.message)
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        out[pane_id] = unwrap_echo(lines[-1].rstrip()) if lines else ""
    return out
