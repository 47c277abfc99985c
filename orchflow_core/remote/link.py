"""OrchestratorLink: the host's way to the orchestrator, by mode.

- ``embedded``: there is none; every call answers "unavailable" with how to turn it on.
- ``sidecar``: the host starts ``orchestrator serve`` (``python -I``, in the runtime
  dir, with ``--project-root``: nothing is imported from the project) on first need, on a
  private Unix socket, waits at most ``ready_timeout_s`` for its discovery file,
  health-pings it, restarts it with backoff when it dies, and stops it on close.
  A sidecar not ready in time (a loaded machine, a first start compiling bytecode) is
  left to finish starting: that call says "still starting" (``data.starting``; the
  Lua side asks again) and the next one uses it.
  An explicit ``orchestrator.start`` waits longer (``start_timeout_s``).
  ``--parent-pid`` makes it exit by itself if the host is killed.
- ``service``: connect to a running orchestrator through its discovery file (or a
  configured URL, with the token still from the discovery file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core import paths
from orchflow_core.errors import OrchflowError, UnavailableError
from orchflow_core.remote import discovery

if TYPE_CHECKING:
    from orchflow_core.rpc.client import RpcClient

log = logging.getLogger(__name__)

HOW_TO_ENABLE = (
    "the orchestrator is off (orchestrator.mode = 'embedded'). Turn it on with "
    "setup({ orchestrator = { mode = 'sidecar' } }), or run `orchflow-orchestrator serve` "
    "and use mode 'service'"
)

Notify = Callable[[str, dict[str, Any]], None]

# ``python -I -c SIDECAR_BOOT <root> serve ...``: the orchestrator from <root>, the
# directory this orchflow_core came from (a checkout or site-packages).
SIDECAR_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from orchestrator.cli import main; sys.argv[0] = 'orchflow-orchestrator'; sys.exit(main())"
)


class OrchestratorLink:
    def __init__(
        self,
        mode: str,
        *,
        url: str | None = None,
        discovery_file: str | None = None,
        on_notification: Notify | None = None,
        ready_timeout_s: float = 0.3,
        start_timeout_s: float = 10.0,
        health_interval_s: float = 10.0,
        max_backoff_s: float = 5.0,
        call_timeout_s: float = 30.0,
        project_root: Callable[[], Path] | None = None,
    ) -> None:
        self.mode = mode
        self._project_root = project_root
        self.url = url
        self.discovery_path = Path(discovery_file) if discovery_file else None
        self._on_notification = on_notification
        self.ready_timeout_s = ready_timeout_s
        self.start_timeout_s = start_timeout_s
        self.health_interval_s = health_interval_s
        self.max_backoff_s = max_backoff_s
        self.call_timeout_s = call_timeout_s
        self._client: RpcClient | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._spawned_at = 0.0
        self._lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False
        self.restarts = 0
        self.last_error: str | None = None

    # -- connection -----------------------------------------------------------------
    async def client(self, *, ready_timeout_s: float | None = None) -> RpcClient:
        """The connection, made on first need (in sidecar mode: after starting the sidecar
        and waiting at most ``ready_timeout_s``, default ``self.ready_timeout_s``)."""
        if self.mode == "embedded":
            raise UnavailableError(HOW_TO_ENABLE, mode="embedded")
        async with self._lock:
            if self._client is not None and not self._client.closed:
                return self._client
            if self.mode == "sidecar":
                await self._start_sidecar(
                    self.ready_timeout_s if ready_timeout_s is None else ready_timeout_s
                )
            self._client = await self._connect()
            if self.mode == "sidecar" and self._watchdog is None:
                self._watchdog = asyncio.create_task(self._watch())
            return self._client

    def _sidecar_discovery(self) -> Path:
        return self.discovery_path or paths.runtime_dir() / f"sidecar-{os.getpid()}.json"

    async def _connect(self) -> RpcClient:
        from orchflow_core.rpc.client import RpcClient

        path = (
            self._sidecar_discovery()
            if self.mode == "sidecar"
            else (self.discovery_path or discovery.default_path())
        )
        found = discovery.read(path)
        client = await RpcClient.connect(self.url or found.url, found.token, timeout=2.0)
        client.on_notification("stream.output", self._forward("stream.output"))
        return client

    def _forward(self, method: str) -> Callable[[Any], None]:
        def deliver(params: Any) -> None:
            if self._on_notification is not None:
                self._on_notification(
                    method, params if isinstance(params, dict) else {"params": params}
                )

        return deliver

    async def _start_sidecar(self, ready_timeout_s: float) -> None:
        """Spawn the sidecar unless one is alive, then wait for its discovery file."""
        disc = self._sidecar_discovery()
        if self._proc is None or self._proc.returncode is not None:
            await self._spawn_sidecar(disc)
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + max(ready_timeout_s, 0.05)
        while not disc.exists():
            if proc.returncode is not None:
                err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
                last = (
                    err.strip().splitlines()[-1] if err.strip() else f"exit code {proc.returncode}"
                )
                raise UnavailableError(f"the orchestrator sidecar failed to start: {last}")
            if time.monotonic() > deadline:
                # Left running: the next call finds it ready instead of starting another.
                raise UnavailableError(
                    "the orchestrator sidecar is still starting (not ready within "
                    f"{ready_timeout_s * 1000:.0f} ms); try again in a moment",
                    starting=True,  # nothing was sent: the caller may safely ask again
                )
            await asyncio.sleep(0.005)
        log.info(
            "sidecar ready %.0f ms after spawn (pid %s)",
            (time.monotonic() - self._spawned_at) * 1000,
            proc.pid,
        )

    async def _spawn_sidecar(self, disc: Path) -> None:
        paths.ensure_private_dir(disc.parent)
        with contextlib.suppress(FileNotFoundError):
            disc.unlink()
        sock = disc.with_suffix(".sock")
        # Never import from the user's project: -I (isolated) puts neither the cwd nor
        # PYTHONPATH (which may hold "." or a project dir) nor user site-packages on
        # sys.path, like the host (lua/orchflow/host.lua); SIDECAR_BOOT adds only the
        # root this orchflow_core came from, and the process runs in orchflow's private
        # runtime dir. The project root is passed explicitly instead.
        root = str(Path(__file__).resolve().parents[2])
        project = self._project_root() if self._project_root else None
        self._spawned_at = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
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
            *(["--project-root", str(project)] if project is not None else []),
            cwd=disc.parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

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
            self.restarts += 1
            log.warning(
                "orchestrator sidecar died (code %s); restarting in %.1f s",
                proc.returncode if proc else None,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
            async with self._lock:
                if self._client is not None:
                    await self._client.close()
                    self._client = None
            try:
                await self.client(ready_timeout_s=self.start_timeout_s)
            except OrchflowError as exc:
                self.last_error = exc.message
                log.warning("sidecar restart failed: %s", exc.message)

    # -- calls ------------------------------------------------------------------------
    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        client = await self.client()
        try:
            return await client.call(method, params or {}, timeout=self.call_timeout_s)
        except UnavailableError:
            if self.mode != "sidecar":
                raise
            # the sidecar died under us: one retry after the watchdog brings it back
            async with self._lock:
                if self._client is not None:
                    await self._client.close()
                    self._client = None
            client = await self.client()
            return await client.call(method, params or {}, timeout=self.call_timeout_s)

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

    async def stop(self) -> None:
        """Close the connection; in sidecar mode stop the process (SIGTERM, then SIGKILL)."""
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._closing = False
