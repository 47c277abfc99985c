"""Resource locks: shared or exclusive, leased, owned by a JSON-RPC connection.

A lock is a lease on a named resource (any text: a path, a port, "db:migrations").
``shared`` locks may be held together; an ``exclusive`` lock excludes every other.

- **Leases.** Every lock expires ``lease_s`` after it was granted or last renewed
  (``lock.renew``); a holder that hangs cannot keep a resource forever.
- **Owners.** The owner is the connection that acquired it. When the connection ends,
  however it ends (closed, dropped, its process SIGKILLed: the socket closes), every lock
  it holds is released and every wait it has is cancelled (``release_owner``).
- **Fairness.** Requests are served first come, first served per resource: a request
  that is compatible with the holders still queues behind any earlier waiter, so a
  stream of shared requests cannot starve an exclusive one waiting before them. When a
  lock goes, the head of the queue is granted, and with it every following shared
  request while they stay compatible.
- **Deadlocks.** Before a request waits, the wait-for graph (connection -> the
  connections holding, or queued ahead for, what it waits for) is searched from its
  blockers; if the path leads back to the asking connection, the request is refused at
  once (``ConflictError``) with the cycle named, instead of waiting for ever. A
  connection asking for a lock that conflicts with one it holds is the shortest cycle.
- **Persisted.** With a ``journal`` (lock_journal.py, the ``locks`` table of
  orchestrator.db) every change is written through, and a request of an owner that
  outlives the process (lock_owners.py) is answered once its change is committed. A
  restarted orchestrator gives back (lock_restore.py) the locks whose owners outlive a
  process: re-attached agents (``agent:<id>``), re-attached swarm
  tasks (``swarm:<id>/<task>``) and MCP over HTTP (``mcp-http``), each with the lease it
  had left; a connection's locks went with its connection. Until that restore is done,
  requests wait for it (``hold_requests``/``open_requests``).

``clock`` (wall time, for ``acquired_at``/``expires_at``) is injected; leases are timers
on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.coordination.lock_journal import LockJournal
from orchestrator.coordination.lock_owners import outlives_process
from orchestrator.coordination.lock_repository import Delete, Put, StoredLock
from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    PermissionDeniedError,
    TimeoutError_,
)

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 60.0
MAX_LEASE_S = 24 * 3600.0
MAX_WAIT_S = 3600.0
MAX_RESOURCE_LEN = 512
_EXPIRED_KEPT = 1024  # ids of expired locks remembered, to say "expired" not "unknown"
DEFAULT_RESTORE_WAIT_S = 10.0  # how long a request waits for the previous run's locks


class LockMode(StrEnum):
    SHARED = "shared"
    EXCLUSIVE = "exclusive"


def compatible(a: LockMode, b: LockMode) -> bool:
    return a is LockMode.SHARED and b is LockMode.SHARED


@dataclass(slots=True)
class Lock:
    lock_id: str
    resource: str
    mode: LockMode
    owner: str
    owner_label: str
    acquired_at: float
    expires_at: float
    lease_s: float
    timer: asyncio.TimerHandle | None = None
    restored: bool = False  # held before the orchestrator restarted
    provisional: bool = False  # restored, its owner not yet confirmed re-attached

    def view(self) -> dict[str, Any]:
        out = {
            "lock_id": self.lock_id,
            "resource": self.resource,
            "mode": self.mode.value,
            "owner": self.owner_label,
            "acquired_at": self.acquired_at,
            "expires_at": self.expires_at,
        }
        if self.restored:
            out["restored"] = True
        return out

    def stored(self) -> Put:
        return Put(
            self.lock_id,
            self.resource,
            self.mode.value,
            self.owner,
            self.owner_label,
            self.acquired_at,
            self.expires_at,
            self.lease_s,
        )


@dataclass(slots=True)
class _Waiter:
    resource: str
    mode: LockMode
    owner: str
    owner_label: str
    lease_s: float
    since: float
    future: asyncio.Future[Lock] = field(repr=False)


class LockManager:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._locks: dict[str, Lock] = {}
        self._held: dict[str, list[Lock]] = {}  # resource -> holders
        self._queues: dict[str, deque[_Waiter]] = {}  # resource -> waiters, oldest first
        self._expired: OrderedDict[str, float] = OrderedDict()  # lock id -> when
        self._labels: dict[str, str] = {}
        self.journal: LockJournal | None = None  # write-through (None: process state only)
        self._restoring: asyncio.Event | None = None
        self.granted = 0
        self.expired = 0

    # -- checks --------------------------------------------------------------------------
    @staticmethod
    def check_resource(resource: str) -> str:
        if not resource.strip() or len(resource) > MAX_RESOURCE_LEN or "\x00" in resource:
            raise InvalidArgumentError(
                f"resource must be non-empty text of at most {MAX_RESOURCE_LEN} characters"
                f" without NUL, got {resource[:80]!r}",
                param="resource",
            )
        return resource

    @staticmethod
    def check_mode(mode: str) -> LockMode:
        try:
            return LockMode(mode)
        except ValueError:
            raise InvalidArgumentError(
                f"mode must be 'shared' or 'exclusive', got {mode!r}", param="mode"
            ) from None

    @staticmethod
    def check_seconds(name: str, value: float, *, low: float, high: float) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not low <= value <= high or (name == "lease_s" and value <= 0):
            bound = "> 0" if name == "lease_s" else f">= {low:g}"
            raise InvalidArgumentError(
                f"{name} must be a number of seconds {bound} and <= {high:g}, got {value!r}",
                param=name,
            )
        return float(value)

    # -- the graph ---------------------------------------------------------------------
    def _blockers(self, resource: str, mode: LockMode, ahead: list[_Waiter]) -> dict[str, str]:
        """owner -> why, for everyone a request on ``resource`` would wait for: holders it
        conflicts with, and waiters queued ahead of it that it conflicts with."""
        out: dict[str, str] = {}
        for lock in self._held.get(resource, []):
            if not compatible(mode, lock.mode):
                out.setdefault(lock.owner, f"holds {resource!r} {lock.mode.value}")
        for w in ahead:
            if w.future.done():  # cancelled or granted this instant: waits for nothing
                continue
            if not compatible(mode, w.mode):
                out.setdefault(w.owner, f"is queued before it for {resource!r} {w.mode.value}")
        return out

    def _waits_of(self, owner: str) -> list[tuple[_Waiter, dict[str, str]]]:
        out = []
        for resource, queue in self._queues.items():
            items = list(queue)
            for i, w in enumerate(items):
                if w.owner == owner and not w.future.done():
                    out.append((w, self._blockers(resource, w.mode, items[:i])))
        return out

    def _label(self, owner: str) -> str:
        return self._labels.get(owner, owner)

    def _cycle(self, owner: str, resource: str, mode: LockMode) -> list[str] | None:
        """The steps of a wait-for cycle back to ``owner`` if it waited now, else None."""
        first = self._blockers(resource, mode, list(self._queues.get(resource, ())))
        start = f"{self._label(owner)} asks for {resource!r} {mode.value}"
        stack: list[tuple[str, list[str]]] = [
            (o, [start, f"{self._label(o)} {why}"]) for o, why in first.items()
        ]
        seen: set[str] = set()
        while stack:
            current, path = stack.pop()
            if current == owner:
                return path
            if current in seen:
                continue
            seen.add(current)
            for w, blockers in self._waits_of(current):
                for o, why in blockers.items():
                    step = f"{self._label(current)} waits for {w.resource!r} {w.mode.value}"
                    stack.append((o, [*path, step, f"{self._label(o)} {why}"]))
        return None

    # -- granting ------------------------------------------------------------------------
    def _grantable(self, resource: str, mode: LockMode) -> bool:
        return all(compatible(mode, lock.mode) for lock in self._held.get(resource, []))

    def _grant(self, resource: str, mode: LockMode, owner: str, label: str, lease_s: float) -> Lock:
        now = self._clock()
        lock = Lock(
            lock_id=f"lk-{secrets.token_hex(8)}",
            resource=resource,
            mode=mode,
            owner=owner,
            owner_label=label,
            acquired_at=now,
            expires_at=now + lease_s,
            lease_s=lease_s,
        )
        self._locks[lock.lock_id] = lock
        self._held.setdefault(resource, []).append(lock)
        self._arm(lock)
        self.granted += 1
        self._store(lock)
        return lock

    def _arm(self, lock: Lock, delay: float | None = None) -> None:
        if lock.timer is not None:
            lock.timer.cancel()
        loop = asyncio.get_running_loop()
        wait = lock.lease_s if delay is None else delay
        lock.timer = loop.call_later(wait, self._expire, lock.lock_id)

    # -- persistence -----------------------------------------------------------------------
    def _store(self, lock: Lock) -> None:
        if self.journal is not None:
            self.journal.record(lock.stored())

    async def durable(self, owner: str | None = None) -> None:
        """Wait until every change so far is committed (no-op without a journal). With
        ``owner``: only if its locks outlive the process (lock_owners.py); a connection's
        are written as well, but nothing would restore them, so it does not wait."""
        if self.journal is not None and (owner is None or outlives_process(owner)):
            await self.journal.durable()

    def hold_requests(self) -> None:
        """Requests wait (``ready``) until ``open_requests``: the previous run's locks are
        being restored."""
        self._restoring = asyncio.Event()

    def open_requests(self) -> None:
        if self._restoring is not None:
            self._restoring.set()

    async def ready(self, *, timeout_s: float = DEFAULT_RESTORE_WAIT_S) -> None:
        """Return at once unless a restore is under way; then wait for it (bounded)."""
        if self._restoring is None or self._restoring.is_set():
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._restoring.wait()
        except TimeoutError:
            raise TimeoutError_(
                f"the locks held before the orchestrator restarted were not restored within"
                f" {timeout_s:g}s; try again"
            ) from None

    def adopt(self, stored: StoredLock, *, provisional: bool) -> Lock:
        """A lock a previous process held, held again with the lease it has left (the
        caller checked it has not expired). ``provisional``: dropped by ``settle`` unless
        its owner is ``claim``ed first."""
        mode = LockMode(stored.mode)
        holders = self._held.get(stored.resource, [])
        if not all(compatible(mode, other.mode) for other in holders):
            raise ConflictError(
                f"stored lock {stored.lock_id} on {stored.resource!r} conflicts with"
                f" {', '.join(h.lock_id for h in holders)}",
                resource=stored.resource,
            )
        lock = Lock(
            lock_id=stored.lock_id,
            resource=stored.resource,
            mode=mode,
            owner=stored.owner,
            owner_label=stored.owner_label,
            acquired_at=stored.acquired_at,
            expires_at=stored.expires_at,
            lease_s=stored.lease_s,
            restored=True,
            provisional=provisional,
        )
        self._locks[lock.lock_id] = lock
        holders.append(lock)
        self._held[lock.resource] = holders
        self._labels[lock.owner] = lock.owner_label
        self._arm(lock, max(0.0, lock.expires_at - self._clock()))
        return lock

    def forget_stored(self, lock_id: str) -> None:
        """A stored lock that is not restored: its row goes."""
        if self.journal is not None:
            self.journal.record(Delete(lock_id))

    def claim(self, owner: str) -> int:
        """``owner`` is confirmed alive again (re-attached): its restored locks stay."""
        mine = [lock for lock in self._locks.values() if lock.owner == owner]
        for lock in mine:
            lock.provisional = False
        return len(mine)

    def settle(self) -> int:
        """Release the restored locks whose owners were not claimed (not re-attached)."""
        gone: dict[str, list[Lock]] = {}
        for lock in self._locks.values():
            if lock.provisional:
                gone.setdefault(lock.owner, []).append(lock)
        for locks in gone.values():
            log.info(
                "released %d restored locks of %s (%s): it was not re-attached after the restart",
                len(locks),
                locks[0].owner_label,
                ", ".join(repr(lock.resource) for lock in locks),
            )
            for lock in locks:
                self._drop(lock)
        return sum(len(locks) for locks in gone.values())

    def _expire(self, lock_id: str) -> None:
        lock = self._locks.get(lock_id)
        if lock is None:
            return
        log.info("lock %s on %r (%s) expired", lock_id, lock.resource, lock.owner_label)
        self.expired += 1
        self._expired[lock_id] = self._clock()
        while len(self._expired) > _EXPIRED_KEPT:
            self._expired.popitem(last=False)
        self._drop(lock)

    def _drop(self, lock: Lock) -> None:
        if lock.timer is not None:
            lock.timer.cancel()
        if self._locks.pop(lock.lock_id, None) is not None:
            self.forget_stored(lock.lock_id)
        holders = self._held.get(lock.resource, [])
        if lock in holders:
            holders.remove(lock)
        if not holders:
            self._held.pop(lock.resource, None)
        self._serve(lock.resource)

    def _serve(self, resource: str) -> None:
        """Grant from the head of the queue while the head is compatible with the holders."""
        queue = self._queues.get(resource)
        while queue:
            head = queue[0]
            if head.future.done():  # timed out or cancelled meanwhile
                queue.popleft()
                continue
            if not self._grantable(resource, head.mode):
                break
            queue.popleft()
            lock = self._grant(resource, head.mode, head.owner, head.owner_label, head.lease_s)
            head.future.set_result(lock)
        if queue is not None and not queue:
            self._queues.pop(resource, None)

    # -- API -----------------------------------------------------------------------------
    async def acquire(
        self,
        owner: str,
        owner_label: str,
        resource: str,
        mode: LockMode,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        wait_s: float = 0.0,
    ) -> dict[str, Any]:
        await self.ready()
        self._labels[owner] = owner_label
        self._serve(resource)  # drop waits that ended (cancelled) from the queue's head
        queue = self._queues.get(resource)
        if not queue and self._grantable(resource, mode):
            return await self._granted(self._grant(resource, mode, owner, owner_label, lease_s))
        cycle = self._cycle(owner, resource, mode)
        if cycle is not None:
            raise ConflictError(
                "deadlock: " + ", ".join(cycle) + "; refused instead of waiting for ever",
                resource=resource,
                cycle=cycle,
            )
        holders = ", ".join(
            f"{lock.owner_label} ({lock.mode.value}, {lock.lock_id})"
            for lock in self._held.get(resource, [])
        )
        queued = len(queue or ())
        busy = f"{resource!r} is held by {holders or 'nobody'}" + (
            f" with {queued} waiting before you" if queued else ""
        )
        if wait_s <= 0:
            raise ConflictError(
                f"{busy}; give wait_s to wait for it", resource=resource, holders=holders
            )
        future: asyncio.Future[Lock] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(resource, mode, owner, owner_label, lease_s, self._clock(), future)
        self._queues.setdefault(resource, deque()).append(waiter)
        try:
            async with asyncio.timeout(wait_s):
                lock = await asyncio.shield(future)
        except TimeoutError:
            self._give_up(waiter)
            raise TimeoutError_(
                f"{busy}; not granted within wait_s={wait_s:g}", resource=resource
            ) from None
        except BaseException:  # the request was cancelled (its connection ended)
            self._give_up(waiter)
            raise
        return await self._granted(lock)

    async def _granted(self, lock: Lock) -> dict[str, Any]:
        """The grant's answer, once it is stored; a grant that cannot be stored is given
        back (nobody may hold a lock a restart would forget)."""
        try:
            await self.durable(lock.owner)
        except OrchflowError:
            if self._locks.get(lock.lock_id) is lock:
                self._drop(lock)
            raise
        except BaseException:  # the request was cancelled while the grant was written
            if self._locks.get(lock.lock_id) is lock:
                self._drop(lock)
            raise
        return lock.view()

    def _give_up(self, waiter: _Waiter) -> None:
        """A waiter stopped waiting: out of the queue (a lock granted to it in that same
        instant is given back), then serve who it may have held up."""
        future = waiter.future
        if future.done() and not future.cancelled():
            lock = future.result()
            if lock.lock_id in self._locks:
                self._drop(lock)
        else:
            future.cancel()
        queue = self._queues.get(waiter.resource)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
        self._serve(waiter.resource)

    def _owned(self, owner: str, lock_id: str) -> Lock:
        lock = self._locks.get(lock_id)
        if lock is None:
            if lock_id in self._expired:
                raise NotFoundError(
                    f"lock {lock_id} expired: its lease ran out (acquire it again)", id=lock_id
                )
            raise NotFoundError(f"no lock {lock_id!r} (see lock.list)", id=lock_id)
        if lock.owner != owner:
            raise PermissionDeniedError(
                f"lock {lock_id} on {lock.resource!r} belongs to {lock.owner_label}",
                id=lock_id,
            )
        return lock

    def renew(self, owner: str, lock_id: str, lease_s: float | None = None) -> dict[str, Any]:
        lock = self._owned(owner, lock_id)
        lock.lease_s = lease_s if lease_s is not None else lock.lease_s
        lock.expires_at = self._clock() + lock.lease_s
        self._arm(lock)
        self._store(lock)
        return lock.view()

    def release(self, owner: str, lock_id: str) -> dict[str, Any]:
        lock = self._owned(owner, lock_id)
        self._drop(lock)
        return {**lock.view(), "released": True}

    def relabel(self, owner: str, owner_label: str) -> None:
        """Name ``owner`` anew in lock.list (an agent's locks, taken before its name was
        known)."""
        self._labels[owner] = owner_label
        for lock in self._locks.values():
            if lock.owner == owner:
                lock.owner_label = owner_label
                self._store(lock)

    def rekey(self, owner: str, new_owner: str, owner_label: str) -> None:
        """Move ``owner``'s locks to the key ``new_owner`` (an agent's locks, taken under a
        temporary key before its id was known, then kept under ``agent:<id>`` so a restarted
        orchestrator can tell whose they are). ``owner`` has no waits (taken at once)."""
        self._labels.pop(owner, None)
        self._labels[new_owner] = owner_label
        for lock in self._locks.values():
            if lock.owner == owner:
                lock.owner, lock.owner_label = new_owner, owner_label
                self._store(lock)

    def held_by(self, owner: str) -> list[dict[str, Any]]:
        return [lock.view() for lock in self._locks.values() if lock.owner == owner]

    def release_owner(
        self, owner: str, *, why: str = "its connection ended", quiet: bool = False
    ) -> int:
        """Release every lock of ``owner`` and cancel its waits (its connection ended, or
        ``why``); ``quiet``: the caller logs it."""
        for queue in self._queues.values():
            for w in queue:
                if w.owner == owner and not w.future.done():
                    w.future.cancel()
        mine = [lock for lock in self._locks.values() if lock.owner == owner]
        for lock in mine:
            self._drop(lock)
        self._labels.pop(owner, None)
        if mine and not quiet:
            log.info("released %d locks of %s (%s)", len(mine), owner, why)
        return len(mine)

    def list(self) -> dict[str, Any]:
        locks = sorted(self._locks.values(), key=lambda lock: (lock.resource, lock.acquired_at))
        waiting = [
            {
                "resource": w.resource,
                "mode": w.mode.value,
                "owner": w.owner_label,
                "since": w.since,
            }
            for resource in sorted(self._queues)
            for w in self._queues[resource]
            if not w.future.done()
        ]
        return {"locks": [lock.view() for lock in locks], "waiting": waiting}

    def counts(self) -> tuple[int, int]:
        """(locks held, requests waiting)"""
        return len(self._locks), sum(
            1 for q in self._queues.values() for w in q if not w.future.done()
        )

    def close(self) -> None:
        for lock in list(self._locks.values()):
            if lock.timer is not None:
                lock.timer.cancel()
        for queue in self._queues.values():
            for w in queue:
                if not w.future.done():
                    w.future.cancel()
