"""Counts every tmux command orchflow's host sends, by name, for benchmarks.

Imported in the host through host_hooks/sitecustomize.py: wraps the control-mode
client's one command path (``ControlModeClient.commands``, which ``command`` and
``check`` go through too) and adds the host method ``bench.tmux_commands``, which
answers the counts so far.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from orchflow_core.api import METHODS
from orchflow_core.mux.control_client import ControlModeClient

COUNTS: Counter[str] = Counter()
_commands = ControlModeClient.commands


async def _counted(self: ControlModeClient, cmds: Sequence[Sequence[str]], **kw: Any) -> Any:
    for cmd in cmds:
        COUNTS[cmd[0]] += 1
    return await _commands(self, cmds, **kw)


ControlModeClient.commands = _counted  # type: ignore[method-assign]


@METHODS.method("bench.tmux_commands")
async def tmux_commands(core: Any, params: Any) -> dict[str, int]:
    return dict(COUNTS)
