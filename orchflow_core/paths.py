"""Where orchflow keeps config, state, logs and runtime files (platformdirs).

Every location can be overridden by an environment variable, which is how tests
and ``make run`` keep orchflow away from the user's real directories.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import warnings
from pathlib import Path

import platformdirs

APP = "orchflow"

log = logging.getLogger(__name__)


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


#: One log file per process kind: the Neovim host and the orchestrator never share a
#: RotatingFileHandler (two processes rotating one file lose lines).
LOG_NAMES = ("host", "orchestrator")


def log_file(process: str = "host") -> Path:
    """``host.log`` (the Neovim host, ``:Orchflow log``) or ``orchestrator.log``."""
    if process not in LOG_NAMES:
        raise ValueError(f"unknown process {process!r}; expected one of {LOG_NAMES}")
    return log_dir() / f"{process}.log"


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


def _own_dirs() -> tuple[Path, ...]:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        runtime = runtime_dir()
    return (state_dir(), log_dir(), runtime)


def ensure_private_dir(path: Path) -> Path:
    """Make ``path`` exist as a directory only its owner can enter, and return it.

    Every directory created here, missing parents included, is made with mode 0700
    (what the XDG base-directory spec asks for). An existing directory is tightened
    to 0700 only if it is one of orchflow's own (the state, log or runtime dir, or
    inside one) and belongs to this user: a directory named by the user for
    something else (the parent of a ``--listen unix:`` socket, say) is left as it
    is. ``:checkhealth orchflow`` reports orchflow's directories that stay looser.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            directory.mkdir(mode=0o700)
        if directory.is_dir():
            directory.chmod(0o700)  # mkdir's mode is masked by the umask; 0700 is the aim
    if not missing:
        _tighten_own(path)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
    return path


def _tighten_own(path: Path) -> None:
    resolved = path.resolve()
    own = [d.resolve() for d in _own_dirs()]
    if not any(resolved == d or d in resolved.parents for d in own):
        return
    try:
        st = path.stat()
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o077 == 0 or st.st_uid != os.geteuid():
        return
    try:
        path.chmod(0o700)
    except OSError as exc:  # a read-only mount, say: checkhealth still names it
        log.warning("could not make %s private (mode %o): %s", path, st.st_mode & 0o777, exc)
    else:
        log.info("made %s private: mode %o -> 700", path, st.st_mode & 0o777)
