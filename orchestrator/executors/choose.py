"""Which executor runs swarm tasks: ``[executor] kind`` of config.toml.

``local`` (the default) is the tmux executor. ``ray`` is the Ray executor with the
section's ``address``, ``namespace``, ``token_env``, ``connect_timeout_s`` and
``max_restarts``; without an address it is made unavailable, saying what to set (the
swarm engine then refuses command tasks with that reason).
"""

from __future__ import annotations

from typing import Any

from orchestrator.executors.base import Executor
from orchestrator.executors.local import DEFAULT_PANE_IDLE_S, LocalExecutor, TerminalsGetter
from orchestrator.executors.ray import RayExecutor


def make_executor(
    section: dict[str, Any] | None,
    terminals: TerminalsGetter,
    *,
    pane_idle_s: float | None = DEFAULT_PANE_IDLE_S,
) -> Executor:
    """``pane_idle_s``: ``[swarm] pane_idle_s``, how long the local executor keeps an idle
    pooled pane."""
    conf = section or {}
    if conf.get("kind", "local") != "ray":
        return LocalExecutor(terminals, pane_idle_s=pane_idle_s)
    address = conf.get("address")
    ray = RayExecutor(
        address=address or "",
        namespace=conf.get("namespace") or "orchflow",
        token_env=conf.get("token_env") or "ORCHFLOW_RAY_TOKEN",
        connect_timeout_s=float(conf.get("connect_timeout_s") or 30),
        max_restarts=int(conf.get("max_restarts", 3)),
    )
    if not address:
        ray.refuse(
            '[executor] kind = "ray" needs [executor] address: the Ray head as host:port'
            ' (e.g. "10.0.0.5:6379", what `ray start --head` printed)'
        )
    elif address.startswith("ray://"):
        ray.refuse(
            f"[executor] address {address!r}: Ray Client (ray://) needs ray[client];"
            " give the head's GCS address as host:port instead"
        )
    return ray
