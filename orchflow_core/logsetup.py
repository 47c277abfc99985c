"""The orchflow log file (``:Orchflow log`` opens it)."""

from __future__ import annotations

import logging
import logging.handlers
import os

from orchflow_core import paths
from orchflow_core.errors import BackendError

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOGGERS = ("orchflow_core", "orchestrator", "orchflow")


def configure(level: str = "info") -> str:
    """Send orchflow's loggers to the log file (mode 0600) and return its path.

    Idempotent: a second call changes the level, and re-targets the handler if
    the log location changed (tests run several cores in one process). A log file
    that cannot be written raises ``BackendError`` naming it and the fix.
    """
    log_file = paths.log_file()
    try:
        paths.ensure_private_dir(log_file.parent)
        os.close(os.open(log_file, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise BackendError(
            f"cannot write the log file {log_file}: {exc.strerror or exc}. "
            "Fix the directory's permissions or set $ORCHFLOW_LOG_DIR to a writable one",
            path=str(log_file),
        ) from None
    numeric = getattr(logging, level.upper(), logging.INFO)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(numeric)
        logger.propagate = False
        for old in [h for h in logger.handlers if getattr(h, "_orchflow", False)]:
            if getattr(old, "baseFilename", None) != str(log_file):
                logger.removeHandler(old)
                old.close()
        if not any(getattr(h, "_orchflow", False) for h in logger.handlers):
            handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter(_FORMAT))
            handler._orchflow = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
    return str(log_file)
