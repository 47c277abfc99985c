"""The orchflow log file (``:Orchflow log`` opens it)."""

from __future__ import annotations

import logging
import logging.handlers
import os

from orchflow_core import paths

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str = "info") -> str:
    """Send the ``orchflow_core``/``orchestrator``/``orchflow`` loggers to the log file.

    Returns the file's path. Idempotent: a second call only changes the level.
    """
    log_file = paths.log_file()
    paths.ensure_private_dir(log_file.parent)
    numeric = getattr(logging, level.upper(), logging.INFO)
    for name in ("orchflow_core", "orchestrator", "orchflow"):
        logger = logging.getLogger(name)
        logger.setLevel(numeric)
        logger.propagate = False
        if not any(getattr(h, "_orchflow", False) for h in logger.handlers):
            handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter(_FORMAT))
            handler._orchflow = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
    os.chmod(log_file, 0o600)
    return str(log_file)
