"""The log file of this process: ``host.log`` or ``orchestrator.log`` (``:Orchflow log``).

Each process kind writes its own file: a ``RotatingFileHandler`` shared by two
processes would rotate under the other one's feet and lose lines.
"""

from __future__ import annotations

import logging
import logging.handlers
import os

from orchflow_core import paths
from orchflow_core.errors import ConfigError

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOGGERS = ("orchflow_core", "orchestrator", "orchflow")


def configure(level: str = "info", *, process: str = "host") -> str:
    """Send orchflow's loggers to ``process``'s log file (mode 0600) and return its path.

    Idempotent: a second call changes the level, and re-targets the handler if
    the log location changed (tests run several cores in one process).
    Raises ConfigError, naming the file and the fix, when the file cannot be
    written; the loggers then write nowhere until a later call succeeds.
    """
    log_file = paths.log_file(process)
    numeric = getattr(logging, level.upper(), logging.INFO)
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(numeric)
        logging.getLogger(name).propagate = False
    try:
        paths.ensure_private_dir(log_file.parent)
        os.close(os.open(log_file, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
    except OSError as exc:
        _detach(keep=None)
        for name in _LOGGERS:  # not logging.lastResort: the host's stderr is Neovim's pipe
            quiet = logging.NullHandler()
            quiet._orchflow = True  # type: ignore[attr-defined]
            logging.getLogger(name).addHandler(quiet)
        raise ConfigError(
            f"orchflow cannot write its log file {log_file} ({exc.strerror or exc}); "
            "logging is off. Fix: make that directory writable by you, or set "
            "$ORCHFLOW_LOG_DIR to one that is",
            file=str(log_file),
        ) from exc
    _detach(keep=str(log_file))
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(getattr(h, "_orchflow", False) for h in logger.handlers):
            handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter(_FORMAT))
            handler._orchflow = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
    return str(log_file)


def _detach(*, keep: str | None) -> None:
    """Remove orchflow's file handlers that do not write to ``keep``."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "_orchflow", False)]:
            if keep is None or getattr(old, "baseFilename", None) != keep:
                logger.removeHandler(old)
                old.close()
