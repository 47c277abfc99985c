"""Where orchflow keeps config, state, logs and runtime files (platformdirs).

Every location can be overridden by an environment variable, which is how tests
and ``make run`` keep orchflow away from the user's real directories.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

APP = "orchflow"


def _dir(env: str, default: str) -> Path:
    value = os.environ.get(env)
    return Path(value) if value else Path(default)


def config_file() -> Path:
    """``config.toml``; ``ORCHFLOW_CONFIG`` names another file."""
    override = os.environ.get("ORCHFLOW_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def state_dir() -> Path:
    """SQLite databases and trash."""
    return _dir("ORCHFLOW_STATE_DIR", platformdirs.user_data_dir(APP))


def log_dir() -> Path:
    return _dir("ORCHFLOW_LOG_DIR", platformdirs.user_log_dir(APP))


def log_file() -> Path:
    return log_dir() / "orchflow.log"


def runtime_dir() -> Path:
    """Discovery files and sockets; falls back to the state dir where no runtime dir exists."""
    override = os.environ.get("ORCHFLOW_RUNTIME_DIR")
    if override:
        return Path(override)
    try:
        return Path(platformdirs.user_runtime_dir(APP))
    except Exception as exc:  # pragma: no cover - platformdirs raises on odd platforms only
        log.debug("no runtime dir (%s); using the state dir", exc)
        return state_dir() / "run"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
