"""What a module's entry gets: ``register(api)`` is called with a ``ModuleApi``.

Through it a module registers the methods its manifest declares (``api.method``) and acts on
the world (``read_text``, ``write_text``, ``run``, ``open_connection``), each checked against
its declared permissions at the moment it acts. A Python entry runs in orchflow's process:
the checks cover what it does through this API, which is the API modules are written against;
they are not a sandbox against a module that imports ``os`` itself (doc/modules.md says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchflow_core.errors import InvalidArgumentError, TimeoutError_
from orchflow_core.modules.manifest import Manifest
from orchflow_core.modules.permissions import Guard

log = logging.getLogger(__name__)

ModuleHandler = Callable[["ModuleApi", dict[str, Any]], Awaitable[Any]]
DEFAULT_RUN_TIMEOUT_S = 60.0
MAX_READ_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str


class ModuleApi:
    def __init__(self, manifest: Manifest, guard: Guard, config: dict[str, Any]) -> None:
        self.manifest = manifest
        self.guard = guard
        self.name = manifest.name
        self.log = logging.getLogger(f"orchflow.module.{manifest.name}")
        self.methods: dict[str, ModuleHandler] = {}
        self._config = config

    def config(self) -> dict[str, Any]:
        """The module's settings: the defaults its manifest's ``contributes.config`` declares."""
        return dict(self._config)

    def method(self, name: str) -> Callable[[ModuleHandler], ModuleHandler]:
        """Register ``name`` (declared in ``contributes.methods``) as ``handler(api, params)``."""
        if name not in self.manifest.methods:
            raise InvalidArgumentError(
                f"module {self.name!r} registers method {name!r}, which its manifest's"
                " contributes.methods does not declare",
                module=self.name,
                method=name,
            )

        def register(fn: ModuleHandler) -> ModuleHandler:
            self.methods[name] = fn
            return fn

        return register

    def read_text(self, path: str | Path, *, max_bytes: int = MAX_READ_BYTES) -> str:
        """A file's text; refused outside the module's fs roots (its folder is always readable).
        ``max_bytes`` (default 16 MiB) caps what is read."""
        target = self.guard.check_path(path)
        with target.open("r", encoding="utf-8", errors="replace") as f:
            return f.read(max_bytes)

    def write_text(self, path: str | Path, text: str) -> Path:
        target = self.guard.check_path(path, write=True)
        target.write_text(text, encoding="utf-8")
        return target

    async def run(
        self, argv: list[str], *, cwd: str | None = None, timeout_s: float = DEFAULT_RUN_TIMEOUT_S
    ) -> RunResult:
        """Run ``argv`` (its program declared in permissions.exec, ``cwd`` under an fs root);
        killed after ``timeout_s`` (default 60 s)."""
        if not argv:
            raise InvalidArgumentError("run needs a program", module=self.name)
        self.guard.check_exec(argv[0])
        if cwd is not None:
            self.guard.check_path(cwd)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(timeout_s):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise TimeoutError_(
                f"module {self.name!r}: {argv[0]} ran past {timeout_s}s and was killed",
                module=self.name,
            ) from None
        return RunResult(
            proc.returncode or 0,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
        )

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``host`` (declared in permissions.network)."""
        self.guard.check_network(host)
        return await asyncio.open_connection(host, port)
