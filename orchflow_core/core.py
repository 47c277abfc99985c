"""Core: the service container the Neovim host and the orchestrator share.

Creating a Core reads the config and nothing else. ``start()`` opens the SQLite
state file; the terminal manager (tmux) starts on the first call that needs it,
so a missing tmux never takes down search, history or :Orchflow log.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core import config as config_mod
from orchflow_core import logsetup, paths
from orchflow_core.errors import BackendError, ConfigError
from orchflow_core.events import EventBus

if TYPE_CHECKING:
    from orchflow_core.history.store import HistoryStore
    from orchflow_core.mux.backend import MuxBackend
    from orchflow_core.remote.link import OrchestratorLink
    from orchflow_core.store.database import Database
    from orchflow_core.terminal.manager import TerminalManager
    from orchflow_core.terminal.watch import OutputWatches

log = logging.getLogger(__name__)

DB_NAME = "orchflow.db"


ROLES = ("host", "orchestrator")


class Core:
    def __init__(
        self,
        overrides: dict[str, Any] | None = None,
        *,
        project_root: Path | None = None,
        role: str = "host",
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        self.role = role
        """Which process this is; the panes it makes are owned by '<role>:<pid>'."""
        self.overrides: dict[str, Any] = overrides or {}
        self.events = EventBus()
        self.project_root = (project_root or Path.cwd()).resolve()
        self.state_dir = paths.state_dir()
        # A broken config.toml must not take :Orchflow log/health/version down with
        # it: run on defaults + setup() and keep the error for whoever asks.
        self.config_error: ConfigError | None = None
        try:
            self.config: dict[str, Any] = config_mod.load(self.overrides)
        except ConfigError as exc:
            self.config_error = exc
            self.config = config_mod.load(self.overrides, use_file=False)
        self.log_file = logsetup.configure(self.config["log"]["level"])
        self._db: Database | None = None
        self._db_lock = asyncio.Lock()  # calls racing the first open share one connection
        self.history: HistoryStore | None = None
        self._terminals: TerminalManager | None = None
        self._terminals_lock = asyncio.Lock()
        self._watches: OutputWatches | None = None
        self._orchestrator: OrchestratorLink | None = None
        log.info("orchflow core started")

    def reconfigure(self, overrides: dict[str, Any]) -> None:
        """Apply new setup() overrides (re-reading config.toml); all-or-nothing."""
        new = config_mod.load(overrides)
        if new["orchestrator"] != self.config["orchestrator"] and self._orchestrator is not None:
            old, self._orchestrator = self._orchestrator, None
            asyncio.get_running_loop().create_task(old.stop())  # the next call uses the new mode
        self.overrides, self.config, self.config_error = overrides, new, None
        logsetup.configure(new["log"]["level"])

    def tmux_socket(self) -> str:
        return os.environ.get("ORCHFLOW_TMUX_SOCKET") or str(self.config["tmux"]["socket"])

    async def start(self) -> None:
        """Open the state database and the command history (idempotent)."""
        await self.db()

    async def db(self) -> Database:
        async with self._db_lock:
            if self._db is None:
                from orchflow_core.history.store import HistoryStore
                from orchflow_core.store.database import Database

                try:
                    paths.ensure_private_dir(self.state_dir)
                except OSError as exc:
                    raise BackendError(
                        f"cannot use the state dir {self.state_dir}: {exc.strerror or exc}",
                        path=str(self.state_dir),
                    ) from None
                db = await Database.open(self.state_dir / DB_NAME)
                self.history = await HistoryStore.open(db)
                self._db = db
            return self._db

    async def terminals(self) -> TerminalManager:
        """The terminal manager, started (and reconciled with tmux) on first use."""
        async with self._terminals_lock:
            if self._terminals is None:
                from orchflow_core.terminal.manager import TerminalManager

                # The manager publishes pane lifecycle events itself; from the backend
                # only the coalesced output counts are passed on (dashboards refresh).
                backend_events = EventBus()
                backend_events.subscribe(
                    lambda ev: self.events.publish(ev.kind, **ev.data), kinds={"pane.output"}
                )
                kind = self.config["terminal"]["backend"]
                backend: MuxBackend
                if kind == "pty":
                    from orchflow_core.mux.pty import PtyBackend

                    backend = PtyBackend(events=backend_events)
                else:
                    from orchflow_core.mux.tmux import TmuxBackend

                    backend = TmuxBackend(
                        socket=self.tmux_socket(),
                        tmux=self.config["tmux"]["binary"],
                        config_file=self.config["tmux"]["config_file"],
                        events=backend_events,
                    )
                db = await self.db()
                manager = TerminalManager(
                    backend,
                    db,
                    self.events,
                    backend_name=kind,
                    recorder=self.history,
                    owner=f"{self.role}:{os.getpid()}",
                )
                await manager.start()  # raises TmuxUnavailableError; we retry next call
                self._terminals = manager
            return self._terminals

    @property
    def watches(self) -> OutputWatches:
        if self._watches is None:
            from orchflow_core.terminal.watch import OutputWatches

            self._watches = OutputWatches(self.events)
        return self._watches

    @property
    def orchestrator(self) -> OrchestratorLink:
        """The link to the orchestrator for the configured mode (made on first use)."""
        if self._orchestrator is None:
            from orchflow_core.remote.link import OrchestratorLink

            conf = self.config["orchestrator"]
            self._orchestrator = OrchestratorLink(
                conf["mode"],
                url=conf["url"],
                discovery_file=conf["discovery_file"],
                # stream.output from an agent becomes the agent.output event
                on_notification=lambda _method, data: self.events.publish("agent.output", **data),
            )
        return self._orchestrator

    async def close(self) -> None:
        log.info("orchflow core stopping")
        if self._orchestrator is not None:
            await self._orchestrator.stop()
        if self._watches is not None:
            self._watches.stop_all()
        if self._terminals is not None:
            await self._terminals.close()
        async with self._db_lock:  # an open still in progress finishes first, then closes
            if self._db is not None:
                await self._db.close()
