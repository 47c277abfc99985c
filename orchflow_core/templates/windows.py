"""Window-level tmux calls the mux backend does not offer yet.

``TerminalManager`` makes and runs panes; a template also needs windows: their names,
layouts and options, which window a pane is in, splitting a given window, and the
placeholder window ``new-session`` leaves behind. ``TmuxBackend`` (orchflow_core/mux/)
has no call for these, so this module runs them as ``tmux -L <the backend's socket>``
subprocesses (``-L`` as the backend's ``socket``, none for tmux's default server) — off
the hot path (once per window of an apply or a freeze).
When the backend grows ``list_windows``, ``rename_window``, ``select_layout``,
``set_window_options`` and a ``target`` on ``TerminalManager.new_pane``, this module goes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from orchflow_core.errors import BackendError, UnavailableError

SEP = "\x1f"
_FIELDS = (
    "#{window_id}", "#{window_index}", "#{window_name}", "#{window_layout}",
    "#{window_active}", "#{pane_id}", "#{pane_index}", "#{pane_current_path}",
    "#{pane_active}", "#{@orchflow_id}", "#{pane_start_command}",
)  # fmt: skip


@dataclass(slots=True)
class LivePane:
    pane_id: str
    index: int
    cwd: str
    active: bool
    orchflow_id: str
    start_command: str


@dataclass(slots=True)
class LiveWindow:
    window_id: str
    index: int
    name: str
    layout: str
    active: bool
    panes: list[LivePane]


class TmuxWindows:
    def __init__(self, socket: str | None, *, timeout: float = 10.0) -> None:
        self.socket = socket  # None: tmux's default server, as the backend does
        self.timeout = timeout

    @classmethod
    def of(cls, tm: Any) -> TmuxWindows:
        """For the tmux server ``tm`` (a TerminalManager) drives; templates need tmux."""
        if tm.backend_name != "tmux" or not hasattr(tm.backend, "socket"):
            raise UnavailableError(
                f"session templates need the tmux backend, not {tm.backend_name!r}",
                backend=tm.backend_name,
            )
        return cls(tm.backend.socket)

    async def tmux(self, *args: str) -> str:
        where = ["-L", self.socket] if self.socket else []
        proc = await asyncio.create_subprocess_exec(
            "tmux", *where, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(self.timeout):
            out, err = await proc.communicate()
        if proc.returncode != 0:
            raise BackendError(
                f"tmux {' '.join(args[:1])}: {err.decode(errors='replace').strip()}",
                args=list(args),
            )
        return out.decode(errors="replace")

    async def windows(self, session: str) -> list[LiveWindow]:
        """The session's windows in index order, each with its panes in index order."""
        text = await self.tmux("list-panes", "-s", "-t", f"={session}:", "-F", SEP.join(_FIELDS))
        by_id: dict[str, LiveWindow] = {}
        for line in text.splitlines():
            f = line.split(SEP)
            if len(f) != len(_FIELDS):
                continue
            w = by_id.get(f[0])
            if w is None:
                w = by_id[f[0]] = LiveWindow(f[0], int(f[1]), f[2], f[3], f[4] == "1", [])
            w.panes.append(LivePane(f[5], int(f[6]), f[7], f[8] == "1", f[9], f[10]))
        for w in by_id.values():
            w.panes.sort(key=lambda p: p.index)
        return sorted(by_id.values(), key=lambda w: w.index)

    async def window_of(self, pane_id: str) -> str:
        return (await self.tmux("display-message", "-p", "-t", pane_id, "#{window_id}")).strip()

    async def rename(self, window_id: str, name: str) -> None:
        await self.tmux("rename-window", "-t", window_id, name)

    async def layout(self, window_id: str, layout: str) -> None:
        await self.tmux("select-layout", "-t", window_id, layout)

    async def options(self, window_id: str, options: dict[str, Any]) -> None:
        for key, value in options.items():
            if isinstance(value, bool):
                value = "on" if value else "off"
            await self.tmux("set-option", "-w", "-t", window_id, key, str(value))

    async def session_options(
        self, session: str, options: dict[str, Any], *, global_: bool = False
    ) -> None:
        for key, value in options.items():
            if isinstance(value, bool):
                value = "on" if value else "off"
            where = ["-g"] if global_ else ["-t", f"={session}:"]
            await self.tmux("set-option", *where, key, str(value))

    async def kill_window(self, window_id: str) -> None:
        await self.tmux("kill-window", "-t", window_id)

    async def move(self, window_id: str, session: str, index: int) -> None:
        await self.tmux("move-window", "-s", window_id, "-t", f"={session}:{index}")

    async def select_window(self, window_id: str) -> None:
        await self.tmux("select-window", "-t", window_id)
