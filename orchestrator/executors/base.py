"""Where a task runs: the ``Executor`` protocol and the values it passes.

An executor starts one command (``spawn``), lets its output be read live (``stream``) and
as a bounded tail once it ended (``wait``), takes input (``send``) and signals
(``signal``), says how it is (``status``), stops it with everything it started (``kill``)
and finds it again after the orchestrator restarted (``reattach``). The local executor
(``local.py``: a tmux pane per running task, through core's TerminalManager) is the one
built; a Ray executor (one actor per running task, output streamed back from it) is meant
to implement the same protocol: nothing here names tmux.

A ``Handle`` is plain data (stored with the task's attempt), so a restarted orchestrator
can give it back to ``reattach``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Ending(StrEnum):
    """How a spawned command ended."""

    EXITED = "exited"  # it ended by itself; exit_code says how
    TIMED_OUT = "timed_out"  # its timeout ran out: it and its children were killed
    KILLED = "killed"  # kill() (a cancel)
    LOST = "lost"  # its end was not observed (its pane went away, the process restarted)


@dataclass(frozen=True, slots=True)
class Spec:
    """What to run. ``key`` names it for logs and pane meta (``<swarm>/<task>``)."""

    key: str
    command: str
    cwd: str
    host: str | None = None  # a placement label (Ray: a node resource); local: must be None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Handle:
    """A started command: enough to find it again (stored as JSON with the attempt)."""

    executor: str  # "local"
    key: str
    ref: str  # where it runs: the local executor's pane (orchflow id)
    run_id: str  # the run (local: core's run id, its exit code comes from the shell)
    pane_id: str | None = None  # the tmux pane, for :Orchflow swarm to open
    host: str = "local"
    started_at: float = 0.0
    command: str = ""  # as typed (the local executor finds its output after it)
    agent: dict[str, Any] | None = None  # a prompt task: the pooled ACP agent that ran it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Handle:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(slots=True)
class Outcome:
    """How a command ended, with its output: ``output`` is what the terminal kept (at most
    the executor's ``max_output_bytes``, the end kept), ``tail`` its last lines."""

    ending: Ending
    exit_code: int | None
    output: str = ""
    tail: str = ""
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.ending is Ending.EXITED and self.exit_code == 0


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # "running" | "ended" | "lost"
    exit_code: int | None = None
    reason: str | None = None


class Executor(Protocol):
    """Spawn, stream output, send input, signal, status, kill; and reattach after a
    restart. Every method raises the OrchflowError hierarchy."""

    name: str

    async def spawn(self, spec: Spec) -> Handle: ...

    async def wait(self, handle: Handle, *, timeout_s: float | None) -> Outcome:
        """Until it ended, or ``timeout_s`` ran out (then it is killed with its children
        and the outcome is ``timed_out``). Its place goes back to the executor."""
        ...

    def stream(self, handle: Handle) -> AsyncIterator[bytes]: ...

    async def send(self, handle: Handle, text: str, *, enter: bool = True) -> None: ...

    async def signal(self, handle: Handle, signum: int) -> int:
        """Signal the command's processes (not the shell holding them); how many."""
        ...

    async def status(self, handle: Handle) -> Status: ...

    async def kill(self, handle: Handle) -> None: ...

    async def reattach(self, handle: Handle) -> Status:
        """After a restart: ``running`` if the command still runs there (``wait`` follows
        it again), ``ended`` if its end was recorded, else ``lost``."""
        ...

    async def close(self) -> None: ...
