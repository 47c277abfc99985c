"""OrchestratorLink: the host's way to the orchestrator, by mode.

- ``embedded``: there is none; every call answers "unavailable" with how to turn it on.
- ``sidecar``: the host starts ``orchestrator serve`` (``python -I``, in the runtime
  dir, with ``--project-root``: nothing is imported from the project) on first need, on a
  private Unix socket, with the host's effective core config (``--core-config``: tmux
  socket, binary and config file, terminal backend, log level) and project root, so
  agents and the user's panes share one tmux server. A call waits for it (at most
  ``start_timeout_s``); past ``notice_after_s`` the link says once that it is starting
  (the ``orchestrator.starting`` event). This is the only "still starting" wait:
  host calls never block Neovim, so nobody above polls. It is health-pinged,
  restarted with backoff when it dies, and stopped on close; ``--parent-pid`` makes it
  exit by itself if the host is killed. Its stderr goes to ``orchestrator-sidecar.log``
  in the log dir.
- ``service``: connect to a running orchestrator through its discovery file (or a
  configured URL, with the token still from the discovery file).

Errors: a -32003 answer is the orchestrator saying "unavailable"; it is passed on and
the connection (with its stream subscriptions) stays up. Only ``ConnectionLost`` (the
socket died) is retried, once, after reconnecting, and only for methods in
``IDEMPOTENT``: ``agent.send`` or ``agent.create`` is never sent twice.

AI agents: every connection calls ``agent.watch``, so the orchestrator's ``agent.state``,
``agent.update``, ``agent.turn``, ``agent.permission`` and ``agent.permission_closed``
notifications become host events of the same names (an orchestrator without ACP agents
answers -32601 and the link goes on without them).

Editor buffers (``editor=True``, the Neovim host): every connection also calls
``editor.attach``, so ACP agents' ``fs/*`` ask this Neovim first; the orchestrator's
``editor.fs`` notification becomes the host event ``editor.fs``, which Lua
(lua/orchflow/agent_fs.lua) answers with the host method ``editor.fs_reply``.

Streams: ``stream.output`` and ``stream.closed`` become the events ``agent.output`` and
``agent.output_end``. Subscriptions end with their connection, so when it dies or the
link stops, each open one gets ``agent.output_end`` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core import paths
from orchflow_core.errors import ConnectionLost, OrchflowError, UnavailableError
from orchflow_core.remote import discovery

if TYPE_CHECKING:
    from orchflow_core.rpc.client import RpcClient

log = logging.getLogger(__name__)

HOW_TO_ENABLE = (
    "the orchestrator is off (orchestrator.mode = 'embedded'). Turn it on with "
    "setup({ orchestrator = { mode = 'sidecar' } }), or run `orchflow-orchestrator serve` "
    "and use mode 'service'"
)

AGENT_EVENTS = (
    "agent.state",
    "agent.update",
    "agent.turn",
    "agent.permission",
    "agent.permission_closed",
)

# Streamed completions (ai.complete {stream: true}): the orchestrator sends these to the
# connection that asked; they become host events of the same names.
AI_EVENTS = ("ai.delta", "ai.done", "ai.error", "ai.tool")

# Methods that may be sent again after the connection died mid-call: reads, and
# subscriptions (they end with the old connection, so re-subscribing is what we want).
IDEMPOTENT = frozenset(
    {
        "system.ping",
        "system.health",
        "system.version",
        "system.features",
        "agent.list",
        "agent.get",
        "agent.output",
        "agent.worktrees",
        "review.open",
        "agent.turns",
        "agent.registry",
        "stream.subscribe",
        "stream.unsubscribe",
        "memory.get",
        "memory.list",
        "memory.search",
        "schedule.list",
        "schedule.history",
        "lock.list",
        "swarm.status",
        "swarm.list",
        "ai.providers",
        "session.list",
        "session.saved",
        "search.replace_preview",
        "files.list",
        "history.top",
        "history.suggest",
        "history.search",
    }
)

SIDECAR_LOG = "orchestrator-sidecar.log"
LOST = "the connection to the orchestrator was lost"

# ``python -I -c SIDECAR_BOOT <root> serve ...``: the orchestrator from <root>, the
# directory this orchflow_core came from (a checkout or site-packages).
SIDECAR_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from orchestrator.cli import main; sys.argv[0] = 'orchflow-orchestrator'; sys.exit(main())"
)

# Events for the host's bus: (name, payload).
Emit = Callable[[str, dict[str, Any]], None]


class OrchestratorLink:
    def __init__(
        self,
        mode: str,
        *,
        url: str | None = None,
        discovery_file: str | None = None,
        on_event: Emit | None = None,
        core_config: dict[str, Any] | None = None,
        project_root: Path | None = None,
        start_timeout_s: float = 10.0,
        notice_after_s: float = 0.3,
        health_interval_s: float = 10.0,
        max_backoff_s: float = 5.0,
        call_timeout_s: float = 30.0,
        editor: bool = False,
    ) -> None:
        self.mode = mode
        self.editor = editor  # attach as the editor whose buffers ACP agents' fs/* use
        self.url = url
        self.discovery_path = Path(discovery_file) if discovery_file else None
        self._on_event = on_event
        self.core_config = core_config or {}
        self.project_root = project_root
        self.start_timeout_s = start_timeout_s
        self.notice_after_s = notice_after_s
        self.health_interval_s = health_interval_s
        self.max_backoff_s = max_backoff_s
        self.call_timeout_s = call_timeout_s
        self._client: RpcClient | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._spawned_at = 0.0
        self._stderr_from = 0  # offset of this spawn's stderr in the sidecar log
        self._lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False
        self._streams: set[str] = set()  # stream ids subscribed on the current connection
        self._tasks: set[asyncio.Task[Any]] = set()
        self.spawns = 0
        self.restarts = 0
        self.last_error: str | None = None

    # -- events -----------------------------------------------------------------------
    def _emit(self, name: str, data: dict[str, Any]) -> None:
        if self._on_event is not None:
            self._on_event(name, data)

    def _end_streams(self, reason: str) -> None:
        """Every open subscription ended with its connection: say so to each viewer."""
        streams, self._streams = self._streams, set()
        for stream_id in sorted(streams):
            self._emit("agent.output_end", {"id": stream_id, "reason": reason})

    # -- connection -----------------------------------------------------------------
    async def client(self) -> RpcClient:
        """The connection, made on first need (in sidecar mode after starting the
        sidecar and waiting for it, at most ``start_timeout_s``)."""
        if self.mode == "embedded":
            raise UnavailableError(HOW_TO_ENABLE, mode="embedded")
        async with self._lock:
            if self._client is not None and not self._client.closed:
                return self._client
            if self._client is not None:  # died; _watch_connection may not have run yet
                self._client = None
                self._end_streams(LOST)
            if self.mode == "sidecar":
                client = await self._start_sidecar()
            else:
                client = await self._connect(self.discovery_path or discovery.default_path())
            self._client = client
            self._spawn_task(self._watch_connection(client))
            if self.mode == "sidecar" and self._watchdog is None:
                self._watchdog = asyncio.create_task(self._watch())
            return client

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def discovery_file(self) -> Path:
        """The discovery file of the orchestrator this link uses (a sidecar has its own)."""
        if self.mode == "sidecar":
            return self._sidecar_discovery()
        return self.discovery_path or discovery.default_path()

    def _sidecar_discovery(self) -> Path:
        # orchestrator.discovery_file names a service's file; a sidecar is always ours
        return paths.runtime_dir() / f"sidecar-{os.getpid()}.json"

    async def _connect(self, path: Path) -> RpcClient:
        from orchflow_core.rpc.client import RpcClient

        found = discovery.read(path)
        client = await RpcClient.connect(self.url or found.url, found.token, timeout=2.0)
        client.on_notification("stream.output", self._on_output)
        client.on_notification("stream.closed", self._on_closed)
        for name in (*AGENT_EVENTS, *AI_EVENTS):
            client.on_notification(name, functools.partial(self._on_agent_event, name))
        try:
            watched = await client.call("agent.watch", {})
        except OrchflowError as exc:  # an older orchestrator: no ACP agents to watch
            log.info("agent.watch refused (%s): no AI agent events", exc.message)
        else:  # the agents that ran before this editor came: their states, as events
            self._seed_states(watched)
        if self.editor:
            client.on_notification(
                "editor.fs", functools.partial(self._on_agent_event, "editor.fs")
            )
            try:
                await client.call("editor.attach", {})
            except OrchflowError as exc:  # an older orchestrator: agents use the disk
                log.info("editor.attach refused (%s): agents' fs/* use the disk", exc.message)
        return client

    def _on_agent_event(self, name: str, params: Any) -> None:
        if isinstance(params, dict):
            self._emit(name, params)

    def _on_output(self, params: Any) -> None:
        if isinstance(params, dict):
            self._emit("agent.output", params)

    def _on_closed(self, params: Any) -> None:
        if isinstance(params, dict):
            self._streams.discard(str(params.get("id")))
            self._emit("agent.output_end", params)

    def _seed_states(self, watched: Any) -> None:
        """``agent.watch``'s answer lists the ACP agents with their state: each becomes an
        ``agent.state`` event, so the statusline counts agents a new Neovim did not see
        start (``seeded: true``; the state's own time and source are kept)."""
        agents = watched.get("agents") if isinstance(watched, dict) else None
        for agent in agents if isinstance(agents, list) else []:
            if isinstance(agent, dict) and "id" in agent and "state" in agent:
                self._emit(
                    "agent.state",
                    {
                        "id": agent["id"],
                        "name": agent.get("name"),
                        "agent": agent.get("agent"),
                        "transport": agent.get("transport", "acp"),
                        "state": agent["state"],
                        "source": agent.get("state_source"),
                        "reason": agent.get("state_reason"),
                        "at": agent.get("state_at"),
                        "seeded": True,
                    },
                )

    async def _watch_connection(self, client: RpcClient) -> None:
        why = await client.wait_closed()
        if self._client is client:
            self._client = None
            self._end_streams(LOST)
            log.info("orchestrator connection ended: %s", why)

    async def _start_sidecar(self) -> RpcClient:
        """Spawn the sidecar unless one is alive, then wait (at most ``start_timeout_s``)
        until it accepts a connection; return that connection."""
        disc = self._sidecar_discovery()
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout_s
        told = False
        if self._proc is None or self._proc.returncode is not None:
            await self._spawn_sidecar(disc)
        while True:
            proc = self._proc
            assert proc is not None
            if disc.exists():
                try:
                    client = await self._connect(disc)
                except UnavailableError:
                    # the file of a sidecar that just died (SIGKILL leaves it): once it
                    # is reaped, start another
                    if proc.returncode is not None:
                        await self._spawn_sidecar(disc)
                else:
                    log.info(
                        "sidecar ready %.0f ms after spawn (pid %s)",
                        (time.monotonic() - self._spawned_at) * 1000,
                        proc.pid,
                    )
                    return client
            elif proc.returncode is not None:
                raise UnavailableError(
                    f"the orchestrator sidecar failed to start: {self._last_stderr(proc)}"
                )
            now = time.monotonic()
            if now > deadline:
                # Left running: a later call finds it ready instead of starting another.
                raise UnavailableError(
                    "the orchestrator sidecar did not start within "
                    f"{self.start_timeout_s:g} s (see {paths.log_dir() / SIDECAR_LOG})"
                )
            if not told and now - t0 >= self.notice_after_s:
                told = True
                self._emit("orchestrator.starting", {"mode": self.mode})
            await asyncio.sleep(0.01)

    def _last_stderr(self, proc: asyncio.subprocess.Process) -> str:
        try:
            with open(paths.log_dir() / SIDECAR_LOG, "rb") as fd:
                fd.seek(self._stderr_from)
                text = fd.read().decode(errors="replace").strip()
        except OSError:
            text = ""
        return text.splitlines()[-1] if text else f"exit code {proc.returncode}"

    def sidecar_argv(self, disc: Path) -> list[str]:
        """The sidecar's command line (the token is never in it)."""
        sock = disc.with_suffix(".sock")
        # Never import from the user's project: -I (isolated) puts neither the cwd nor
        # PYTHONPATH (which may hold "." or a project dir) nor user site-packages on
        # sys.path, like the host (lua/orchflow/host.lua); SIDECAR_BOOT adds only the
        # root this orchflow_core came from, and the process runs in orchflow's private
        # runtime dir (_spawn_sidecar). The project root is passed explicitly instead.
        root = str(Path(__file__).resolve().parents[2])
        argv = [
            sys.executable,
            "-I",
            "-c",
            SIDECAR_BOOT,
            root,
            "serve",
            "--listen",
            f"unix:{sock}",
            "--discovery-file",
            str(disc),
            "--parent-pid",
            str(os.getpid()),
            "--core-config",
            json.dumps(self.core_config),
        ]
        if self.project_root is not None:
            argv += ["--project-root", str(self.project_root)]
        return argv

    async def _spawn_sidecar(self, disc: Path) -> None:
        paths.ensure_private_dir(disc.parent)
        with contextlib.suppress(FileNotFoundError):
            disc.unlink()
        # stderr (warnings of unconfigured loggers, a crash) goes to a file: a pipe
        # nobody drains would block the sidecar once full
        log_path = paths.ensure_private_dir(paths.log_dir()) / SIDECAR_LOG
        stderr_fd = os.open(log_path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        self._stderr_from = os.fstat(stderr_fd).st_size
        self._spawned_at = time.monotonic()
        if self._proc is not None and self._proc.returncode is not None:
            self.restarts += 1  # it died (not stopped: stop() forgets the process)
        self.spawns += 1
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.sidecar_argv(disc),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr_fd,
                cwd=disc.parent,
            )
        finally:
            os.close(stderr_fd)

    async def _watch(self) -> None:
        """Health-ping the sidecar; restart it with backoff when it dies."""
        backoff = 0.1
        while not self._closing:
            proc = self._proc
            try:
                if proc is not None:
                    await asyncio.wait_for(proc.wait(), timeout=self.health_interval_s)
                else:
                    await asyncio.sleep(self.health_interval_s)
            except TimeoutError:
                try:
                    client = self._client
                    if client is not None:
                        await client.call("system.ping", {}, timeout=2.0)
                    backoff = 0.1
                    continue
                except OrchflowError as exc:
                    log.warning("sidecar health check failed: %s", exc.message)
            if self._closing:
                return
            log.warning(
                "orchestrator sidecar died (code %s); restarting in %.1f s",
                proc.returncode if proc else None,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
            try:
                await self.client()  # a call may have restarted it meanwhile
            except OrchflowError as exc:
                self.last_error = exc.message
                log.warning("sidecar restart failed: %s", exc.message)

    # -- calls ------------------------------------------------------------------------
    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout_s: float | None = None
    ) -> Any:
        """Call ``method`` on the orchestrator. Its own errors (-32003 included) are
        passed on; a lost connection is retried once for ``IDEMPOTENT`` methods.
        ``timeout_s`` replaces ``call_timeout_s`` for a call known to take longer."""
        attempts = 2 if method in IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            client = await self.client()
            try:
                result = await client.call(
                    method, params or {}, timeout=timeout_s or self.call_timeout_s
                )
            except ConnectionLost as exc:
                if attempt < attempts:
                    log.info("connection lost during %s; sending it again", method)
                    continue
                if attempts == 1:
                    raise ConnectionLost(
                        f"the connection to the orchestrator was lost during {method}; "
                        "it was not sent again (it may or may not have run)",
                        method=method,
                    ) from exc
                raise
            self._track(method, result)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _track(self, method: str, result: Any) -> None:
        if not isinstance(result, dict) or not isinstance(result.get("id"), str):
            return
        if method == "stream.subscribe":
            self._streams.add(result["id"])
        elif method == "stream.unsubscribe":
            self._streams.discard(result["id"])

    async def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "restarts": self.restarts}
        if self.mode == "embedded":
            out["state"] = "off"
            out["hint"] = HOW_TO_ENABLE
            return out
        if self._proc is not None:
            out["pid"] = self._proc.pid
        try:
            client = self._client
            if client is None or client.closed:
                out["state"] = "not started" if self.mode == "sidecar" else "not connected"
                if self.mode == "service":
                    health = await self.call("system.health")
                    out.update(state="running", health=health)
            else:
                out.update(
                    state="running", health=await client.call("system.health", {}, timeout=2.0)
                )
        except OrchflowError as exc:
            out.update(state="unreachable", error=exc.message)
        return out

    async def stop(self, *, reason: str = "the orchestrator was stopped") -> None:
        """Close the connection; in sidecar mode stop the process (SIGTERM, then SIGKILL).
        Open output streams end with ``reason``."""
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        client, self._client = self._client, None
        self._end_streams(reason)
        if client is not None:
            await client.close()
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._closing = False
