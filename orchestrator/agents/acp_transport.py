"""Newline-delimited JSON-RPC over an agent subprocess's stdin/stdout, strict about stdout.

The ACP SDK's own stdio transport logs a line that is not JSON and reads on; ACP says
stdout carries only JSON-RPC messages (logs go to stderr), so a line that is not one means
the agent is broken or something else writes to its stdout. This transport (the SDK's
``Transport`` protocol: ``send``/``receive``/``close``) reports such a line once through
``on_bad_line`` and ends the stream, so the agent fails with the reason instead of waiting
forever for an answer that was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson

log = logging.getLogger(__name__)

DEFAULT_MAX_LINE = 16 * 1024 * 1024  # one JSON-RPC message; an image block can be large


class StdioJsonTransport:
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        *,
        on_bad_line: Callable[[str], None],
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self._on_bad_line = on_bad_line
        self._max_line = max_line
        self._closed = False
        self._write_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        if self._closed:
            raise ConnectionError("the agent's stdin is closed")
        data = orjson.dumps(message) + b"\n"
        async with self._write_lock:
            self._stdin.write(data)
            await self._stdin.drain()

    async def receive(self) -> dict[str, Any] | None:
        while True:
            try:
                line = await self._stdout.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                line = exc.partial
                if not line.strip():
                    return None  # EOF
            except asyncio.LimitOverrunError:
                self._on_bad_line(f"a line longer than {self._max_line} bytes")
                return None
            except (ConnectionError, OSError) as exc:
                log.info("agent stdout closed: %s", exc)
                return None
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                self._on_bad_line(line.decode("utf-8", "replace").strip())
                return None
            if not isinstance(message, dict):
                self._on_bad_line(line.decode("utf-8", "replace").strip())
                return None
            return message

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, RuntimeError):
            self._stdin.close()
