"""``orchflow-orchestrator mcp``: orchflow's MCP server over stdio, for AI clients that start
their MCP servers as subprocesses (Claude Code, Codex, Gemini CLI...).

It holds no state of its own: every tool is a call to the running orchestrator (found
through its discovery file; ``api.RemoteApi``). It refuses to start when none runs, with the
way to start one on stderr (where MCP clients show a server's failure); once started, an
orchestrator that restarts is reconnected to on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from orchestrator.mcp.api import RemoteApi
from orchestrator.mcp.server import build_server
from orchestrator.mcp.tools import TOOLS
from orchflow_core.errors import OrchflowError

MAX_LINE = 64 * 2**20  # one JSON-RPC message per line; tool arguments are capped far lower


async def check(discovery_file: Path) -> tuple[bool, str]:
    """(works, what to say): connect, ping, and name the tools we would serve."""
    api = RemoteApi(discovery_file, call_timeout=5.0)
    try:
        await api.call("system.ping", {})
    except OrchflowError as exc:
        return False, exc.message
    finally:
        await api.close()
    return True, f"{len(TOOLS)} tools, through the orchestrator of {discovery_file}"


async def serve(discovery_file: Path) -> int:
    """Serve MCP on stdin/stdout until the client closes stdin; 1 if no orchestrator runs."""
    from mcp.server.stdio import stdio_server

    api = RemoteApi(discovery_file)
    try:
        await api.call("system.ping", {})
    except OrchflowError as exc:
        print(f"orchflow-orchestrator mcp: {exc.message}", file=sys.stderr)
        return 1
    server = build_server(api)
    try:
        if _pipeable(0) and _pipeable(1):
            async with _pipes() as (stdin, stdout), stdio_server(stdin, stdout) as (read, write):
                await server.run(read, write, server.create_initialization_options())
        else:  # a regular file (asyncio has no non-blocking transport for it): the SDK's own
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
    finally:
        await api.close()
    return 0


def _pipeable(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


class _Lines:
    """stdin for the SDK's ``stdio_server``: lines from a non-blocking pipe (the SDK's own
    default reads and writes through a worker thread per line: two thread hops a call)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise StopAsyncIteration from None
            line = exc.partial
        return line.decode("utf-8", "replace")


class _Out:
    """stdout for the SDK's ``stdio_server``: writes to a non-blocking pipe."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode())

    async def flush(self) -> None:
        await self._writer.drain()


@contextlib.asynccontextmanager
async def _pipes() -> AsyncIterator[tuple[Any, Any]]:
    """The wire on private copies of fds 0 and 1; fd 0 then reads /dev/null and fd 1 goes
    to stderr, so a stray print or a child process never writes into the protocol."""
    loop = asyncio.get_running_loop()
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    reader = asyncio.StreamReader(limit=MAX_LINE)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", 0)
    )
    write_transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", 0)
    )
    writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
    try:
        yield _Lines(reader), _Out(writer)
    finally:
        read_transport.close()
        write_transport.close()
