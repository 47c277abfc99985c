"""Methods about orchflow itself: version, paths, config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core import __version__, paths
from orchflow_core.api import METHODS, Params, param
from orchflow_core.config import redacted
from orchflow_core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from orchflow_core.core import Core


def _pynvim_version() -> str:
    # pynvim.__version__ is free once the host has imported pynvim; metadata costs ~15 ms
    try:
        import pynvim

        return str(pynvim.__version__)
    except (ImportError, AttributeError):
        from importlib import metadata

        return metadata.version("pynvim")


@METHODS.method("version")
async def version(core: Core, params: Params) -> dict[str, Any]:
    import platform  # here, not at the top: off the Neovim host's start

    return {
        "orchflow_core": __version__,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "pynvim": _pynvim_version(),
    }


@METHODS.method("paths")
async def paths_(core: Core, params: Params) -> dict[str, str]:
    return {
        "config_file": str(paths.config_file()),
        "state_dir": str(paths.state_dir()),
        "log_file": core.log_file,
        "runtime_dir": str(paths.runtime_dir()),
    }


@METHODS.method("config.get")
async def config_get(core: Core, params: Params) -> dict[str, Any]:
    """The config in effect, and for a value the environment overrides, what was configured."""
    out: dict[str, Any] = {
        "config": redacted(core.effective_config()),
        "config_file": str(paths.config_file()),
        "overridden": {},
    }
    if core.tmux_socket() != core.config["tmux"]["socket"]:
        out["overridden"]["tmux.socket"] = {
            "by": "$ORCHFLOW_TMUX_SOCKET",
            "configured": core.config["tmux"]["socket"],
        }
    return out


@METHODS.method("config.set")
async def config_set(core: Core, params: Params) -> dict[str, Any]:
    await core.reconfigure(param(params, "overrides", dict))
    return {"config": core.effective_config()}


@METHODS.method("project.set_root")
async def project_set_root(core: Core, params: Params) -> dict[str, str]:
    """Neovim's working directory changed: search, files and history follow it."""
    root = Path(param(params, "root", str)).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(f"project root {str(root)!r} is not a directory", param="root")
    core.project_root = root.resolve()
    return {"root": str(core.project_root)}
