"""Core: the service container the Neovim host and the orchestrator share.

It holds the effective config and creates backends on first use, so that
starting the host costs nothing but this object.
"""

from __future__ import annotations

import logging
from typing import Any

from orchflow_core import config as config_mod
from orchflow_core import logsetup
from orchflow_core.errors import ConfigError
from orchflow_core.events import EventBus

log = logging.getLogger(__name__)


class Core:
    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self.overrides: dict[str, Any] = overrides or {}
        self.events = EventBus()
        # A broken config.toml must not take :Orchflow log/health/version down with
        # it: run on defaults + setup() and keep the error for whoever asks.
        self.config_error: ConfigError | None = None
        try:
            self.config: dict[str, Any] = config_mod.load(self.overrides)
        except ConfigError as exc:
            self.config_error = exc
            self.config = config_mod.load(self.overrides, use_file=False)
        self.log_file = logsetup.configure(self.config["log"]["level"])
        log.info("orchflow core started")

    def reconfigure(self, overrides: dict[str, Any]) -> None:
        """Apply new setup() overrides (re-reading config.toml); all-or-nothing."""
        new = config_mod.load(overrides)
        self.overrides, self.config, self.config_error = overrides, new, None
        logsetup.configure(new["log"]["level"])

    async def close(self) -> None:
        log.info("orchflow core stopping")
