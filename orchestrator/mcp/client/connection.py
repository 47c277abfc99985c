"""One MCP server's connection, through the official SDK's ``Client``.

The SDK's client is an async context manager whose task groups must be entered and left in
one task, so each connection has a holder task: it opens the transport (a subprocess for a
stdio server, an HTTP client for a URL, or orchflow's own server in process), enters
``Client`` (``mode="auto"``: ``server/discover``, falling back to ``initialize`` for older
servers), says it is ready, and waits to be stopped. Leaving it ends the server the SDK's way
(stdin closed, then SIGTERM and SIGKILL to its process group), so nothing outlives
``stop()``.

Calls run in the caller's task, each bounded by ``timeout_s``. What the caller gets:

- a ``CallToolResult`` as JSON (``content``, ``isError``, ``structuredContent``);
- ``Fault(error)`` for what says the server is not working (it could not start, the
  connection was lost, no answer in time, a malformed result): the manager counts these on
  the server's circuit breaker;
- an ``OrchflowError`` for an answer that is an error (the server works).

A stdio server's stderr goes to ``<state dir>/mcp/<name>.stderr.log`` (rewritten at each
start); its last lines are part of a start failure's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from orchestrator.mcp.client.spec import ServerSpec
from orchestrator.mcp.client.state import ServerEvent, ServerState, transition
from orchflow_core import __version__
from orchflow_core.errors import BackendError, OrchflowError, TimeoutError_, UnavailableError

log = logging.getLogger(__name__)

STOP_GRACE_S = 8.0  # the SDK's stdio shutdown: 2 s after stdin closes, 2 s after SIGTERM
ANSWER_GRACE_S = 2.0  # past timeout_s, the outer bound on one call
STDERR_TAIL = 600  # characters of a stdio server's stderr in a failure's message
STDERR_LINES = 3
MIN_SECRET = 4  # shorter env or header values are not blanked out (they would hit any text)
Target = Callable[[contextlib.AsyncExitStack], Awaitable[Any]]


class Fault(Exception):
    """The server is not working (counts on its breaker); ``error`` is what callers see."""

    def __init__(self, error: OrchflowError) -> None:
        super().__init__(error.message)
        self.error = error


def stdio_target(spec: ServerSpec, stderr_file: Path) -> Target:
    async def open_target(stack: contextlib.AsyncExitStack) -> Any:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        if shutil.which(spec.command) is None:
            raise FileNotFoundError(errno.ENOENT, "not found", spec.command)
        if spec.cwd is not None and not os.path.isdir(spec.cwd):
            raise NotADirectoryError(errno.ENOTDIR, "cwd is not a directory", spec.cwd)
        errlog = stack.enter_context(_stderr_log(stderr_file))
        params = StdioServerParameters(
            command=spec.command, args=list(spec.args), env=spec.env or None, cwd=spec.cwd
        )
        return stdio_client(params, errlog=errlog)

    return open_target


def _stderr_log(path: Path) -> TextIO:
    """The server's stderr file, rewritten at each start (a local file: opening is quick)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8")  # closed by the exit stack


def http_target(spec: ServerSpec) -> Target:
    async def open_target(stack: contextlib.AsyncExitStack) -> Any:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        http = await stack.enter_async_context(create_mcp_http_client(headers=spec.headers))
        return streamable_http_client(spec.url, http_client=http)

    return open_target


def inproc_target(server: Callable[[], Any]) -> Target:
    async def open_target(stack: contextlib.AsyncExitStack) -> Any:
        return server()

    return open_target


class ServerConnection:
    def __init__(
        self,
        name: str,
        target: Target,
        *,
        timeout_s: float,
        start_timeout_s: float,
        stderr_file: Path | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        """``secrets``: env and header values, blanked out of every error and log line."""
        self.name = name
        self._secrets = tuple(v for v in secrets if len(v) >= MIN_SECRET)
        self._target = target
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self.stderr_file = stderr_file
        self.state = ServerState.STOPPED
        self.state_at = time.time()
        self._last_error: str | None = None
        self.protocol_version: str | None = None
        self.server_info: dict[str, Any] | None = None
        self.tools: list[dict[str, Any]] | None = None  # cached tools/list (None: stale)
        self.starts = 0
        self._client: Any = None
        self._holder: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._start_lock = asyncio.Lock()
        self._tools_lock = asyncio.Lock()

    # -- state ------------------------------------------------------------------------
    @property
    def last_error(self) -> str | None:
        return self._last_error

    @last_error.setter
    def last_error(self, text: str | None) -> None:
        self._last_error = self._redact(text) if text else text

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _set(self, event: ServerEvent, why: str | None = None) -> None:
        new = transition(self.state, event)
        if event is ServerEvent.FAIL:
            self.last_error = why
        if new is not self.state:
            because = f" ({self.last_error})" if why else ""
            log.info("MCP server %s: %s -> %s%s", self.name, self.state, new, because)
            self.state, self.state_at = new, time.time()

    def _stderr_tail(self) -> str:
        if self.stderr_file is None:
            return ""
        try:
            text = self.stderr_file.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-STDERR_LINES:])[-STDERR_TAIL:]
        return f"; its stderr ends: {self._redact(tail)}" if tail else ""

    # -- life -------------------------------------------------------------------------
    async def client(self) -> Any:
        """The connected SDK client, starting the server first if needed (bounded by
        ``start_timeout_s``); Fault saying why it cannot start."""
        if self.state is ServerState.READY and self._client is not None:
            return self._client
        async with self._start_lock:
            if self.state is ServerState.READY and self._client is not None:
                return self._client
            await self._stop_holder()  # a failed one's leftovers
            self._set(ServerEvent.START)
            self.starts += 1
            self.tools = None
            ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._stop = asyncio.Event()
            self._holder = asyncio.get_running_loop().create_task(
                self._hold(ready, self._stop), name=f"mcp-client:{self.name}"
            )
            try:
                async with asyncio.timeout(self.start_timeout_s):
                    self._client = await asyncio.shield(ready)
            except TimeoutError:
                await self._stop_holder()
                why = f"no answer to discover/initialize within {self.start_timeout_s:g} s"
                self._set(ServerEvent.FAIL, why + self._stderr_tail())
                error: OrchflowError = TimeoutError_(
                    self._message("did not start"), server=self.name
                )
                raise Fault(error) from None
            except Exception as exc:  # any start failure is reported per server
                await self._stop_holder()
                self._set(ServerEvent.FAIL, _describe(exc) + self._stderr_tail())
                error = UnavailableError(self._message("cannot start"), server=self.name)
                raise Fault(error) from None
            self._set(ServerEvent.READY)
            self.last_error = None
            return self._client

    def _message(self, what: str) -> str:
        return f"MCP server {self.name!r} {what}: {self.last_error}"

    async def _hold(self, ready: asyncio.Future[Any], stop: asyncio.Event) -> None:
        from mcp import Client
        from mcp_types import Implementation

        listener: asyncio.Task[None] | None = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                target = await self._target(stack)
                client = Client(
                    target,
                    mode="auto",
                    cache=None,  # tools are cached here, refreshed on list_changed
                    message_handler=self._on_message,
                    client_info=Implementation(name="orchflow", version=__version__),
                )
                await stack.enter_async_context(client)
                self.protocol_version = client.protocol_version
                info = client.server_info
                self.server_info = info.model_dump(mode="json", exclude_none=True) if info else None
                listener = self._listen(client)
                ready.set_result(client)
                await stop.wait()
                if listener is not None:
                    listener.cancel()
                    await asyncio.gather(listener, return_exceptions=True)
        except asyncio.CancelledError:  # stopped (or given up on) before it was ready
            if not ready.done():
                ready.set_exception(UnavailableError("it was stopped while starting"))
            raise
        except Exception as exc:  # reported to the starter, or recorded
            if not ready.done():
                ready.set_exception(exc)
            elif not stop.is_set():
                self._lost(_describe(exc))
        finally:
            if listener is not None and not listener.done():
                listener.cancel()
            self._client = None if self._stop is stop else self._client

    def _listen(self, client: Any) -> asyncio.Task[None] | None:
        """2026-07-28 servers announce tool changes on ``subscriptions/listen``; older ones
        send ``notifications/tools/list_changed`` (``_on_message``)."""
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        caps = client.server_capabilities
        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS or not (
            caps.tools and caps.tools.list_changed
        ):
            return None

        async def listen() -> None:
            try:
                async with client.listen(tools_list_changed=True) as sub:
                    async for _event in sub:
                        self.tools = None
            except Exception as exc:  # then refreshed on demand only
                log.info("MCP server %s: no change stream (%s)", self.name, _describe(exc))

        return asyncio.get_running_loop().create_task(listen(), name=f"mcp-listen:{self.name}")

    async def _on_message(self, message: Any) -> None:
        import mcp_types as types

        if isinstance(message, types.ToolListChangedNotification):
            log.info("MCP server %s: its tools changed", self.name)
            self.tools = None
        elif isinstance(message, Exception):
            self.last_error = f"it sent a message that is not MCP: {_describe(message)}"
            log.warning("MCP server %s: %s", self.name, self.last_error)

    def _lost(self, why: str) -> None:
        if self.state is ServerState.READY:
            self._set(ServerEvent.FAIL, why + self._stderr_tail())
        if self._stop is not None:
            self._stop.set()

    async def _stop_holder(self) -> None:
        holder, stop = self._holder, self._stop
        connected = self._client is not None
        self._holder, self._client = None, None
        if holder is None or stop is None:
            return
        stop.set()
        if not connected:  # still in discover/initialize (maybe hung): cancelling it is how
            holder.cancel()  # to leave; the SDK still ends the process (shielded)
        done, _ = await asyncio.wait({holder}, timeout=STOP_GRACE_S)
        if not done:
            log.warning("MCP server %s: not stopped in %ss; cancelling", self.name, STOP_GRACE_S)
            holder.cancel()
            await asyncio.wait({holder}, timeout=STOP_GRACE_S)

    async def stop(self) -> None:
        """Stop the server now, also one that is starting (without waiting for the start:
        shutdown must not wait out a hung server's start_timeout_s)."""
        await self._stop_holder()
        self._set(ServerEvent.STOP)
        self.tools = None

    # -- requests ---------------------------------------------------------------------
    async def list_tools(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """The server's tools (cached; ``refresh`` asks again), as JSON."""
        async with self._tools_lock:
            if self.tools is not None and not refresh and self.state is ServerState.READY:
                return self.tools
            client = await self.client()
            tools: list[dict[str, Any]] = []
            cursor: str | None = None
            for _page in range(100):  # a paginator that never ends cannot hang us
                page = await self._request(
                    "tools/list", functools.partial(client.list_tools, cursor=cursor)
                )
                tools += [_json(t) for t in page.tools]
                cursor = page.next_cursor
                if cursor is None:
                    break
            self.tools = tools
            return tools

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        client = await self.client()
        result = await self._request(
            f"tools/call {tool}",
            lambda: client.call_tool(tool, arguments, read_timeout_seconds=self.timeout_s),
        )
        out = _json(result)
        out.setdefault("isError", False)
        return out

    async def _request(self, what: str, send: Callable[[], Awaitable[Any]]) -> Any:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT
        from pydantic import ValidationError

        try:
            async with asyncio.timeout(self.timeout_s + ANSWER_GRACE_S):
                return await send()
        except TimeoutError:
            raise self._timeout(what) from None
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise self._timeout(what) from None
            if exc.code == CONNECTION_CLOSED:
                self._lost(f"the connection closed during {what}")
                raise Fault(
                    UnavailableError(
                        f"MCP server {self.name!r} went away during {what}{self._stderr_tail()};"
                        " the next call starts it again",
                        server=self.name,
                    )
                ) from None
            raise BackendError(
                f"MCP server {self.name!r} answered {what} with an error:"
                f" {self._redact(exc.error.message)}"
                f" (code {exc.code})",
                server=self.name,
                mcp_code=exc.code,
            ) from None
        except ValidationError as exc:
            why = f"a malformed result for {what}: {_validation_summary(exc)}"
            self.last_error = f"it returned {why}"
            raise Fault(
                BackendError(f"MCP server {self.name!r} returned {why}", server=self.name)
            ) from None

    def _timeout(self, what: str) -> Fault:
        self.last_error = f"no answer to {what} within {self.timeout_s:g} s"
        return Fault(
            TimeoutError_(
                f"MCP server {self.name!r} did not answer {what} within {self.timeout_s:g} s"
                " (timeout_s)",
                server=self.name,
            )
        )


def _json(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


def _validation_summary(exc: Any) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "result"
        parts.append(f"{loc}: {err.get('msg', '?')}")
    return "; ".join(parts)


def _describe(exc: BaseException) -> str:
    """One line for an exception (an ExceptionGroup: its first leaf)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or 'the command'} is not installed (not found on PATH)"
    if isinstance(exc, PermissionError):
        return f"{exc.filename or 'the command'} cannot be run (permission denied)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}{f': {exc.filename}' if exc.filename else ''}"
    from mcp.shared.exceptions import MCPError

    if isinstance(exc, MCPError):
        from mcp_types import CONNECTION_CLOSED

        if exc.code == CONNECTION_CLOSED:
            return "it closed the connection (exited?) before answering"
        return f"{exc.error.message} (MCP error {exc.code})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
