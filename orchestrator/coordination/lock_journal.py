"""Write-through of the LockManager's changes to SQLite, in order, batched when busy.

Every change (a grant, a renewal, a relabel, a release, an expiry) is recorded at once,
synchronously, as an operation in ``pending``; one writer task applies what is pending in
one transaction (one worker hop, ~0.1 ms), then the next batch. ``durable()`` waits until
every operation recorded before it is committed: what a request awaits before it answers.

What "truthful after a SIGKILL" means here: after a restart, every owner that is still
there holds exactly the locks it was told it holds, never fewer, and a lock it was told
is released is not held for it. Owners that outlive the process (re-attached agents and
swarm tasks, ``mcp-http``: lock_owners.py) are therefore answered (``lock.acquire``,
``lock.renew``, ``lock.release``, ``agent.create``) only once their change is committed
(WAL: a committed transaction survives the process being killed). A connection does not
outlive the process, and its locks are dropped at a restart whatever the table says, so
its changes are written the same way, in the same order, but its answer does not wait for
the commit: nothing a restart does depends on them. What a restart may still find is a
change whose answer was never sent (a grant committed just before the kill, an expiry not
yet written): at worst a lock kept a little longer than its holder knew, never one
missing. Not waiting for a durable owner's write would have allowed the opposite error:
an agent told it holds ``db:main`` restarted without it, another client let in.

Changes nobody waits for (a lease timer firing, a connection's locks going with it) are
written by the same writer, in the same order, without delaying anyone. Concurrent
requests share a commit (their operations land in the same batch).
"""

from __future__ import annotations

import asyncio
import logging

from orchestrator.coordination.lock_repository import LockRepository, Op
from orchflow_core.errors import OrchflowError

log = logging.getLogger(__name__)


class LockJournal:
    def __init__(self, repo: LockRepository) -> None:
        self._repo = repo
        self._pending: list[Op] = []
        self._next: asyncio.Future[None] | None = None  # done when ``_pending`` is committed
        self._inflight: asyncio.Future[None] | None = None  # the batch being written
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        self.failed = 0

    def record(self, op: Op) -> None:
        """Queue ``op`` (after every op recorded before it); the writer starts if idle."""
        self._pending.append(op)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def durable(self) -> None:
        """Return once every op recorded so far is committed; raises the write's error."""
        target = self._next if self._pending else self._inflight
        if target is not None:
            await asyncio.shield(target)

    async def _write(self) -> None:
        while self._pending:
            ops, self._pending = self._pending, []
            done, self._next = self._next, None
            assert done is not None
            self._inflight = done
            try:
                await self._repo.apply(ops)
            except OrchflowError as exc:
                self.failed += 1
                log.error("locks: %d changes not stored: %s", len(ops), exc.message)
                if not done.done():
                    done.set_exception(exc)
                    done.exception()  # retrieved here: nobody may be waiting for it
            except BaseException as exc:  # cancelled at shutdown: waiters hear of it
                if not done.done():
                    done.cancel()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("locks: writing %d changes failed", len(ops))
                raise
            else:
                self.batches += 1
                if not done.done():
                    done.set_result(None)
            finally:
                self._inflight = None

    async def close(self) -> None:
        """Write what is pending (the shutdown path: before the database closes)."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer})  # its errors are logged by the writer
