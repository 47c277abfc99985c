"""A command that reads the prompt on stdin and writes the answer to stdout:
``claude -p``, ``codex exec``, ``gemini -p``, ``llm``, a script of one's own.

The command runs in the project root in its own process group, with the prompt (after
the system text and a blank line, if any) on stdin, which is then closed. Its stdout is
streamed as it comes (UTF-8, decoded incrementally); stderr is kept as a short tail for
the error message. A ``{model}`` in an argument is replaced by ``model``. Cancelled or
out of time, the whole process group gets SIGTERM, then SIGKILL after ``DEFAULT_KILL_S``:
the command's children end with it. A non-zero exit is a failure naming the code and the
last line of stderr (not retried: a CLI's failure is rarely transient).
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator

from orchestrator.providers.base import Delta, Event, Final, ProviderFailure, Request
from orchestrator.providers.config import ProviderConfig
from orchflow_core.errors import BackendError, TimeoutError_, UnavailableError

log = logging.getLogger(__name__)

DEFAULT_KILL_S = 2.0  # SIGTERM, then SIGKILL after this
READ_SIZE = 65536
STDERR_TAIL = 20


class CliProvider:
    kind = "cli"
    supports_tools = False  # a command reads text and writes text: no tool protocol

    def __init__(self, cfg: ProviderConfig, *, cwd: str, kill_s: float = DEFAULT_KILL_S) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.model = cfg.model
        self.cwd = cwd
        self.kill_s = kill_s

    def unavailable(self) -> str | None:
        return self.cfg.unavailable()

    async def aclose(self) -> None:
        return None

    def argv(self) -> list[str]:
        return [a.replace("{model}", self.cfg.model) for a in self.cfg.command]

    async def stream(self, request: Request) -> AsyncIterator[Event]:
        cfg = self.cfg
        argv = self.argv()
        stdin = f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.cwd,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: killed with its children
            )
        except OSError as exc:
            raise ProviderFailure(
                UnavailableError(
                    f"provider {self.name!r}: cannot start {argv[0]!r}: {exc.strerror or exc}",
                    provider=self.name,
                )
            ) from None
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        errors = asyncio.get_running_loop().create_task(_read_tail(proc, tail))
        try:
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(stdin.encode())
                await proc.stdin.drain()
                proc.stdin.close()
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            first = True
            while True:
                limit = cfg.first_byte_timeout_s if first else cfg.stall_timeout_s
                try:
                    async with asyncio.timeout(limit):
                        chunk = await proc.stdout.read(READ_SIZE)
                except TimeoutError:
                    what = "first_byte_timeout_s" if first else "stall_timeout_s"
                    raise ProviderFailure(
                        TimeoutError_(
                            f"provider {self.name!r}: {argv[0]!r} wrote nothing for "
                            f"{limit:g} s ({what}); it was stopped",
                            provider=self.name,
                        )
                    ) from None
                if not chunk:
                    break
                first = False
                text = decoder.decode(chunk)
                if text:
                    yield Delta(text)
            rest = decoder.decode(b"", final=True)
            if rest:
                yield Delta(rest)
            code = await proc.wait()
            await errors
            if code != 0:
                last = tail[-1] if tail else "no output on stderr"
                raise ProviderFailure(
                    BackendError(
                        f"provider {self.name!r}: {argv[0]!r} exited with code {code}: {last}",
                        provider=self.name,
                        exit_code=code,
                    )
                )
            yield Final(usage={}, finish_reason="exit 0", model=self.model or None)
        finally:
            await self._kill(proc)
            errors.cancel()

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """End the process group (the command and its children) if anything runs."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        if proc.returncode is not None:
            return
        try:
            async with asyncio.timeout(self.kill_s):
                await asyncio.shield(proc.wait())
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        log.info("provider %s: stopped %s (pid %d)", self.name, self.cfg.command[0], proc.pid)


async def _read_tail(proc: asyncio.subprocess.Process, tail: collections.deque[str]) -> None:
    assert proc.stderr is not None
    while True:
        line = await proc.stderr.readline()
        if not line:
            return
        text = line.decode("utf-8", "replace").rstrip()
        if text:
            tail.append(text)
