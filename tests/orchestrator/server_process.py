"""A real orchestrator process (``python -m orchestrator serve``) for tests and benchmarks.

Everything it touches is private: XDG/orchflow dirs under a temp dir, its own tmux
socket (``ORCHFLOW_TMUX_SOCKET``), its own discovery file. The venv's bin dir comes first
on PATH so panes find ``pytest`` and friends.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from orchestrator import discovery
from orchflow_core.rpc.client import RpcClient

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 15.0


def server_env(base: Path, tmux_socket: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        (base / name.lower()).mkdir(parents=True, exist_ok=True, mode=0o700)
        env[f"XDG_{name}_HOME"] = str(base / name.lower())
    env.update(
        XDG_RUNTIME_DIR=str(base / "runtime"),
        ORCHFLOW_RUNTIME_DIR=str(base / "runtime"),
        ORCHFLOW_STATE_DIR=str(base / "state"),
        ORCHFLOW_LOG_DIR=str(base / "log"),
        ORCHFLOW_CONFIG=str(base / "config" / "orchflow" / "config.toml"),
        ORCHFLOW_TMUX_SOCKET=tmux_socket,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


class OrchestratorProcess:
    """Start with ``await OrchestratorProcess.start(...)``; ``client()`` connects with the token."""

    def __init__(self, proc: asyncio.subprocess.Process, base: Path, discovery_file: Path) -> None:
        self.proc = proc
        self.base = base
        self.discovery_file = discovery_file
        self.ready_line: dict[str, Any] = {}
        self.info: discovery.Discovery | None = None

    @classmethod
    async def start(
        cls,
        base: Path,
        tmux_socket: str,
        *args: str,
        listen: str = "127.0.0.1:0",
        project_root: Path | None = None,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        python: str | None = None,
    ) -> OrchestratorProcess:
        discovery_file = base / "runtime" / "orchestrator.json"
        argv = [python or sys.executable, "-m", "orchestrator", "serve", "--listen", listen]
        argv += ["--discovery-file", str(discovery_file)]
        if project_root is not None:
            argv += ["--project-root", str(project_root)]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            *args,
            cwd=ROOT,
            env=env or server_env(base, tmux_socket),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        server = cls(proc, base, discovery_file)
        if wait_ready:
            await server.wait_ready()
        return server

    async def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        async with asyncio.timeout(READY_TIMEOUT_S):
            line = await self.proc.stdout.readline()
        if not line:
            err = b""
            if self.proc.stderr is not None:
                err = await self.proc.stderr.read()
            raise RuntimeError(f"orchestrator did not start: {err.decode(errors='replace')}")
        self.ready_line = json.loads(line)
        self.info = discovery.read(self.discovery_file)

    @property
    def url(self) -> str:
        assert self.info is not None
        return self.info.url

    @property
    def token(self) -> str:
        assert self.info is not None
        return self.info.token

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].strip("/"))

    @property
    def log_file(self) -> Path:
        return self.base / "log" / "orchestrator.log"

    async def client(self, **options: Any) -> RpcClient:
        return await RpcClient.connect(self.url, self.token, **options)

    async def call(self, method: str, params: Any = None) -> Any:
        async with await self.client() as client:
            return await client.call(method, params)

    async def wait(self, *, within: float = 15.0) -> int:
        async with asyncio.timeout(within):
            return await self.proc.wait()

    async def stop(self) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit within 15 s."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return await self.wait()
            except TimeoutError:
                self.proc.kill()
        return await self.proc.wait()

    async def stderr_text(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode(errors="replace")
