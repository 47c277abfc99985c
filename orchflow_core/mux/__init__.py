"""Terminal backends: the ``MuxBackend`` protocol, its tmux implementation, output streams.

from orchflow_core.mux import TmuxBackend, Key
backend = TmuxBackend(events=bus)
await backend.start()
pane = await backend.create_pane("work", name="build")
handle = await backend.run(pane.pane_id, "make")
result = await handle.wait(timeout=600)
"""

from __future__ import annotations

from orchflow_core.mux.backend import (
    CommandHandle,
    CommandResult,
    MuxBackend,
    PaneInfo,
    SessionInfo,
    Split,
)
from orchflow_core.mux.keys import Key, parse_key
from orchflow_core.mux.stream import Gap, OutputStream, OutputSubscription

__all__ = [
    "CommandHandle",
    "CommandResult",
    "Gap",
    "Key",
    "MuxBackend",
    "OutputStream",
    "OutputSubscription",
    "PaneInfo",
    "SessionInfo",
    "Split",
    "TmuxBackend",
    "parse_key",
]


def __getattr__(name: str) -> object:
    # TmuxBackend pulls in asyncio subprocess machinery: import it on first use only.
    if name == "TmuxBackend":
        from orchflow_core.mux.tmux import TmuxBackend

        return TmuxBackend
    raise AttributeError(name)
