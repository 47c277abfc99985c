"""Core: the service container the Neovim host and the orchestrator share.

Creating a Core reads the config and nothing else. ``start()`` opens the SQLite
state file; the terminal manager (tmux) starts on the first call that needs it,
so a missing tmux never takes down search, history or :Orchflow log.
"""

from __future__ import annotations

import asyncio
import copy
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
    from orchflow_core.protocol.book import RuleBook
    from orchflow_core.remote.link import OrchestratorLink
    from orchflow_core.store.database import Database
    from orchflow_core.terminal.manager import TerminalManager
    from orchflow_core.terminal.watch import OutputWatches

log = logging.getLogger(__name__)

DB_NAME = "orchflow.db"
# the keys the terminal manager is built from (a change rebuilds it); tmux.* only count
# with the tmux backend
TERMINAL_KEYS = ("terminal.backend", "tmux.socket", "tmux.binary", "tmux.config_file")


def _terminal_settings(config: dict[str, Any]) -> dict[str, Any]:
    keys = TERMINAL_KEYS if config["terminal"]["backend"] == "tmux" else TERMINAL_KEYS[:1]
    return {k: config[k.split(".")[0]][k.split(".")[1]] for k in keys}


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
        """Which process this is: the panes it makes are owned by '<role>:<pid>', and it
        logs to '<role>.log'."""
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
        # An unwritable log dir costs the log, not the core: the error is kept and
        # reported by whoever asks (the host's init answer, the orchestrator's stderr).
        self.log_error: ConfigError | None = None
        try:
            self.log_file = logsetup.configure(self.config["log"]["level"], process=role)
        except ConfigError as exc:
            self.log_error = exc
            self.log_file = str(paths.log_file(role))
        self._db: Database | None = None
        self._db_lock = asyncio.Lock()  # calls racing the first open share one connection
        self.history: HistoryStore | None = None
        self._terminals: TerminalManager | None = None
        self._terminals_lock = asyncio.Lock()
        self._watches: OutputWatches | None = None
        self._orchestrator: OrchestratorLink | None = None
        self._rules: RuleBook | None = None
        log.info("orchflow core started")

    async def reconfigure(self, overrides: dict[str, Any]) -> None:
        """Apply new setup() overrides (re-reading config.toml); all-or-nothing.

        What a change does, by key:

        - ``log.level``: applied at once.
        - ``terminal.backend``, and ``tmux.socket``, ``tmux.binary``, ``tmux.config_file``
          with the tmux backend: the terminal manager is rebuilt on its next use, on the
          new server or backend (open output floats end; tmux panes keep running on the
          old server). Leaving ``pty`` is refused while it has panes open: they live in
          this host and would end.
        - ``orchestrator.*``, and any key the sidecar was started with: the link is
          replaced (a running sidecar is stopped, open agent streams end); the next call
          uses the new mode and config.
        """
        new = config_mod.load(overrides)
        old = self.config
        was, now = _terminal_settings(old), _terminal_settings(new)
        terminal_changed = was != now
        pty_panes = (
            self._terminals is not None
            and old["terminal"]["backend"] == "pty"
            and bool(self._terminals.records())
        )
        if terminal_changed and pty_panes:
            key = next(k for k in TERMINAL_KEYS if was.get(k) != now.get(k))
            raise ConfigError(
                f"setup(): {key} cannot change while pty panes are open (they live in "
                "orchflow's host and would end): close them, or restart Neovim",
                key=key,
            )
        self.overrides, self.config, self.config_error = overrides, new, None
        if self._rules is not None:
            self._rules.set_config(new)
        try:
            logsetup.configure(new["log"]["level"], process=self.role)
            self.log_error = None
        except ConfigError as exc:
            self.log_error = exc
        if terminal_changed:
            await self._drop_terminals()
        if self._orchestrator is not None and (
            new["orchestrator"] != old["orchestrator"]
            or self._orchestrator.core_config != self.sidecar_config()
        ):
            link, self._orchestrator = self._orchestrator, None
            await link.stop(reason="the orchestrator settings changed")

    async def _drop_terminals(self) -> None:
        """Close the terminal manager (and the output watches on it); the next call that
        needs one starts it with the current config."""
        async with self._terminals_lock:
            manager, self._terminals = self._terminals, None
            if self._watches is not None:
                self._watches.stop_all()
            if manager is not None:
                await manager.close()

    def sidecar_config(self) -> dict[str, Any]:
        """The effective core options a sidecar orchestrator must share with this host."""
        return {
            "tmux": {**self.config["tmux"], "socket": self.tmux_socket()},
            "terminal": dict(self.config["terminal"]),
            "log": dict(self.config["log"]),
            "worktree": dict(self.config["worktree"]),  # agents' worktrees (setup({ worktree }))
            "providers": dict(self.config["providers"]),  # ai.complete (setup({ providers }))
            "ai": dict(self.config["ai"]),
        }

    def effective_config(self) -> dict[str, Any]:
        """The config as in effect: $ORCHFLOW_TMUX_SOCKET replaces tmux.socket."""
        out = copy.deepcopy(self.config)
        out["tmux"]["socket"] = self.tmux_socket()
        return out

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

                    backend = PtyBackend(
                        events=backend_events,
                        shell_integration=self.config["terminal"]["shell_integration"],
                    )
                else:
                    from orchflow_core.mux.tmux import TmuxBackend

                    backend = TmuxBackend(
                        socket=self.tmux_socket(),
                        tmux=self.config["tmux"]["binary"],
                        config_file=self.config["tmux"]["config_file"],
                        events=backend_events,
                        shell_integration=self.config["terminal"]["shell_integration"],
                    )
                db = await self.db()
                manager = TerminalManager(
                    backend,
                    db,
                    self.events,
                    backend_name=kind,
                    recorder=self.history,
                    owner=f"{self.role}:{os.getpid()}",
                    rules=self.rules,
                )
                await manager.start()  # raises TmuxUnavailableError; we retry next call
                self._terminals = manager
            return self._terminals

    @property
    def rules(self) -> RuleBook:
        """The rules every command crosses (orchflow_core/protocol), made on first use."""
        if self._rules is None:
            from orchflow_core.modules.registry import contributed_rules
            from orchflow_core.protocol.book import RuleBook, config_dir

            async def module_rules() -> tuple[int, list[tuple[str, dict[str, Any]]]]:
                return await contributed_rules(self)

            self._rules = RuleBook(
                config=self.config,
                config_dir=config_dir(),
                project_root=lambda: self.project_root,
                db=self.db,
                events=self.events,
                modes=self._mode_rules,
                module_rules=module_rules,
            )
        return self._rules

    async def _mode_rules(self, name: str | None) -> tuple[str, frozenset[str]] | None:
        """The mode the rules apply (orchflow_core/modes): ``name``, or the active one."""
        from orchflow_core.modes.methods import rules_for

        return await rules_for(self, name)

    @property
    def watches(self) -> OutputWatches:
        if self._watches is None:
            from orchflow_core.terminal.watch import OutputWatches

            self._watches = OutputWatches(self.events)
        return self._watches

    def shell_integration(self) -> str | None:
        """What the running terminal backend says of shell integration ("bash", "on", or
        "off: <why>"); None before the terminal manager started."""
        manager = self._terminals
        if manager is None:
            return None
        return str(getattr(manager.backend, "shell_integration", "off: not supported"))

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
                # agent.output, agent.output_end, orchestrator.starting
                on_event=lambda name, data: self.events.publish(name, **data),
                core_config=self.sidecar_config(),
                project_root=self.project_root,
                editor=self.role == "host",  # Neovim's buffers serve ACP agents' fs/*
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
