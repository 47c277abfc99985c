"""What a restarted orchestrator does with the locks the previous process stored.

Decided by the owner key of each unexpired row (``locks`` table, orchestrator/schema.py):

    owner key              after a restart
    conn-<n>               dropped: a WebSocket connection ends with its process
    mcp-http               restored: MCP over Streamable HTTP is stateless; its locks live
                           until ``lock_release`` or their lease ends
    agent:<id>             restored provisionally; kept if the agent is re-attached (its
                           pane's process still runs), else released at ``settle``
    swarm:<swarm>/<task>   restored provisionally; kept if the task is re-attached (its
                           swarm still runs it), released when that task ends
    anything else          dropped (``agent-<hex>``: taken for an agent that never started)

A row whose lease ended while no orchestrator ran is dropped. Every restored lock keeps its
id, owner, ``acquired_at`` and ``expires_at`` (the lease it had left) and shows
``restored: true`` in ``lock.list``. Provisional ones are settled once the agents are
re-attached (``LockManager.settle``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from orchestrator.coordination.lock_owners import MCP_HTTP_OWNER, outlives_process
from orchestrator.coordination.lock_repository import LockRepository
from orchestrator.coordination.locks import LockManager
from orchflow_core.errors import ConflictError

log = logging.getLogger(__name__)


def fate(owner: str) -> str:
    """What becomes of a stored lock of ``owner``: "keep", "provisional" or why it is
    dropped."""
    if owner == MCP_HTTP_OWNER:
        return "keep"
    if outlives_process(owner):
        return "provisional"
    if owner.startswith("conn-"):
        return "its connection ended with the previous orchestrator"
    return "its owner does not outlive the orchestrator"


async def restore(
    locks: LockManager, repo: LockRepository, *, clock: Callable[[], float] = time.time
) -> dict[str, int]:
    """Load the stored locks into ``locks`` (module docstring); returns counts."""
    now = clock()
    counts = {"restored": 0, "provisional": 0, "dropped": 0}
    for row in await repo.load():
        why = fate(row.owner)
        if row.expires_at <= now:
            why = "its lease ended while the orchestrator was down"
        if why not in ("keep", "provisional"):
            log.info(
                "lock %s on %r (%s) not restored: %s",
                row.lock_id,
                row.resource,
                row.owner_label,
                why,
            )
            locks.forget_stored(row.lock_id)
            counts["dropped"] += 1
            continue
        try:
            locks.adopt(row, provisional=why == "provisional")
        except ConflictError as exc:  # two stored holders that cannot both hold: keep one
            log.warning("lock %s not restored: %s", row.lock_id, exc.message)
            locks.forget_stored(row.lock_id)
            counts["dropped"] += 1
            continue
        counts["provisional" if why == "provisional" else "restored"] += 1
    if any(counts.values()):
        log.info(
            "locks from before the restart: %d restored, %d waiting for their owner to be"
            " re-attached, %d dropped",
            counts["restored"],
            counts["provisional"],
            counts["dropped"],
        )
    return counts
