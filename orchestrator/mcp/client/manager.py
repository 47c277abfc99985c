"""The MCP servers the orchestrator is a client of: the user's (``[mcp.servers.<name>]``) and
its own (``orchflow``, in process).

- Servers start on demand (the first ``list_tools`` or ``call``), not with the orchestrator.
- Tools are cached per server, refreshed when the server says they changed (or on demand).
- Each server has a circuit breaker ``mcp.<name>`` (orchestrator/coordination/breakers.py):
  a server that cannot start, goes away, does not answer within ``timeout_s`` or returns a
  malformed result counts a failure; after ``BREAKER_POLICY.failure_threshold`` of them it is
  refused at once until its cool-down passes. Other servers are not touched.
- A call whose arguments carry a shell command (a string ``command`` or ``cmd``) passes the
  rules choke point (origin ``mcp``): a blocked or to-be-confirmed command is refused before
  the server sees it. Every call is logged with server, tool and argument *size* (values
  may hold secrets).
- ``close()`` (orchestrator shutdown) stops every server: stdio servers' process groups end.
- The config is re-read on each request: a changed ``[mcp.servers.<name>]`` restarts that
  server with the new settings on its next use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from orchestrator.coordination.breakers import BreakerPolicy, BreakerRegistry, CircuitBreaker
from orchestrator.mcp.client.connection import (
    Fault,
    ServerConnection,
    Target,
    http_target,
    inproc_target,
    stdio_target,
)
from orchestrator.mcp.client.spec import OURS, ServerSpec, parse_all
from orchestrator.mcp.client.state import ServerState
from orchflow_core.errors import (
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    PermissionDeniedError,
    UnavailableError,
)

log = logging.getLogger(__name__)

BREAKER_POLICY = BreakerPolicy(failure_threshold=3, window_s=60.0, cooldown_s=30.0)
OURS_TIMEOUT_S = 3700.0  # our own pane_run waits up to an hour
COMMAND_ARGS = ("command", "cmd")
Enforce = Callable[[str, str, str], Awaitable[None]]  # (command, server, tool)


def breaker_name(server: str) -> str:
    return f"mcp.{server}"


class McpClients:
    def __init__(
        self,
        config: Callable[[], Any],
        breakers: BreakerRegistry,
        *,
        state_dir: Path,
        ours: Callable[[], Any] | None = None,
        enforce: Enforce | None = None,
    ) -> None:
        """``config()``: the current ``mcp.servers`` table; ``ours()``: orchflow's own MCP
        server object (None: not listed); ``enforce``: the rules check for a command."""
        self._config = config
        self._breakers = breakers
        self._state_dir = state_dir
        self._ours = ours
        self._enforce = enforce
        self._specs: dict[str, ServerSpec] = {}
        self._errors: dict[str, str] = {}
        self._conns: dict[str, ServerConnection] = {}
        self._closed = False

    # -- the set of servers ---------------------------------------------------------------
    def specs(self) -> tuple[dict[str, ServerSpec], dict[str, str]]:
        """(enabled and disabled specs, config errors) of the configured servers."""
        return parse_all(self._config() or {})

    def _sync(self) -> None:
        specs, errors = self.specs()
        for name, old in list(self._specs.items()):
            if specs.get(name) != old and name in self._conns:
                conn = self._conns.pop(name)
                log.info("MCP server %s: its config changed; stopping the old one", name)
                _detach(conn)
        self._specs, self._errors = specs, errors
        for name, spec in specs.items():
            if spec.enabled and name not in self._conns:
                self._conns[name] = self._connection(spec)
                self._breaker(name)
        if self._ours is not None and OURS not in self._conns:
            self._conns[OURS] = ServerConnection(
                OURS, inproc_target(self._ours), timeout_s=OURS_TIMEOUT_S, start_timeout_s=30.0
            )
            self._breaker(OURS)

    def _connection(self, spec: ServerSpec) -> ServerConnection:
        target: Target
        stderr = None
        if spec.transport == "stdio":
            stderr = self._state_dir / "mcp" / f"{spec.name}.stderr.log"
            target = stdio_target(spec, stderr)
        else:
            target = http_target(spec)
        return ServerConnection(
            spec.name,
            target,
            timeout_s=spec.timeout_s,
            start_timeout_s=spec.start_timeout_s,
            stderr_file=stderr,
            secrets=(*spec.env.values(), *spec.headers.values()),
        )

    def _breaker(self, server: str) -> CircuitBreaker:
        name = breaker_name(server)
        if name not in self._breakers:
            self._breakers.add(name, f"calls to MCP server {server!r}", BREAKER_POLICY)
        return self._breakers[name]

    def _get(self, server: Any) -> ServerConnection:
        if not isinstance(server, str) or not server:
            raise InvalidArgumentError(
                f"server must be a server name, got {json.dumps(server)[:100]}", param="server"
            )
        if self._closed:
            raise UnavailableError("the orchestrator is shutting down", server=server)
        self._sync()
        conn = self._conns.get(server)
        if conn is not None:
            return conn
        if server in self._errors:
            raise InvalidArgumentError(
                f"MCP server {server!r} is misconfigured: {self._errors[server]}", param="server"
            )
        if server in self._specs:
            raise InvalidArgumentError(
                f"MCP server {server!r} is disabled (enabled = false in config.toml)",
                param="server",
            )
        known = ", ".join(sorted({*self._conns, *self._specs, *self._errors})) or "none"
        raise NotFoundError(
            f"no MCP server {server!r} (configured: {known}; add one with"
            f" [mcp.servers.{server}] in config.toml)",
            id=server,
            param="server",
        )

    # -- the API ----------------------------------------------------------------------------
    def list_servers(self) -> list[dict[str, Any]]:
        """One row per server, ours first: name, kind, state, breaker, tools, last_error."""
        self._sync()
        rows = []
        names = [OURS] if OURS in self._conns else []
        names += sorted({*self._specs, *self._errors} - {OURS})
        for name in names:
            spec = self._specs.get(name)
            conn = self._conns.get(name)
            row: dict[str, Any] = {
                "name": name,
                "kind": "ours" if name == OURS else "user",
                "config": spec.public() if spec else None,
            }
            if conn is None:
                state = ServerState.INVALID if name in self._errors else ServerState.DISABLED
                row.update(
                    state=state.value,
                    last_error=self._errors.get(name),
                    tools=None,
                    tool_count=None,
                    breaker=None,
                    transport=spec.transport if spec else None,
                )
            else:
                row.update(
                    state=conn.state.value,
                    state_at=conn.state_at,
                    last_error=conn.last_error,
                    tools=[t["name"] for t in conn.tools] if conn.tools is not None else None,
                    tool_count=len(conn.tools) if conn.tools is not None else None,
                    breaker=self._breaker(name).snapshot(),
                    transport=spec.transport if spec else "in-process",
                    protocol_version=conn.protocol_version,
                    server_info=conn.server_info,
                    starts=conn.starts,
                )
            rows.append(row)
        return rows

    async def list_tools(self, server: Any, *, refresh: bool = False) -> dict[str, Any]:
        conn = self._get(server)
        tools = await self._guarded(conn, lambda: conn.list_tools(refresh=refresh))
        return {"server": conn.name, "tools": tools}

    async def call(self, server: Any, tool: Any, arguments: Any) -> dict[str, Any]:
        conn = self._get(server)
        if not isinstance(tool, str) or not tool:
            raise InvalidArgumentError(
                f"tool must be a tool name, got {json.dumps(tool)[:100]}", param="tool"
            )
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise InvalidArgumentError(
                f"arguments must be an object (the tool's named arguments), got"
                f" {type(arguments).__name__}",
                param="arguments",
            )

        async def run() -> dict[str, Any]:
            tools = await conn.list_tools()
            if not any(t.get("name") == tool for t in tools):
                names = ", ".join(t.get("name", "?") for t in tools) or "none"
                raise InvalidArgumentError(
                    f"MCP server {conn.name!r} has no tool {tool[:100]!r} (its tools: {names})",
                    param="tool",
                )
            size = len(json.dumps(arguments, default=str))
            log.info("mcp.call %s.%s (arguments: %d bytes)", conn.name, tool, size)
            for key in COMMAND_ARGS if conn.name != OURS else ():  # ours: its tools enforce
                command = arguments.get(key)
                if isinstance(command, str) and self._enforce is not None:
                    await self._enforce(command, conn.name, tool)
            return await conn.call_tool(tool, arguments)

        result = await self._guarded(conn, run)
        return {"server": conn.name, "tool": tool, **result}

    async def restart(self, server: Any) -> dict[str, Any]:
        """Stop the server and start it again now (its tools are asked again)."""
        conn = self._get(server)
        await conn.stop()
        self._breaker(conn.name).reset()  # the user asked: a fresh start
        tools = await self._guarded(conn, lambda: conn.list_tools(refresh=True))
        return {"server": conn.name, "state": conn.state.value, "tool_count": len(tools)}

    async def _guarded(self, conn: ServerConnection, call: Callable[[], Awaitable[Any]]) -> Any:
        breaker = self._breaker(conn.name)
        breaker.check()
        try:
            result = await call()
        except Fault as fault:
            breaker.failure(fault.error.message)
            raise fault.error from None
        except (InvalidArgumentError, PermissionDeniedError):
            breaker.release()  # the caller's request was refused: says nothing of the server
            raise
        except OrchflowError:
            breaker.success()  # it answered (with an error): the server works
            raise
        except BaseException:
            breaker.release()
            raise
        breaker.success()
        return result

    def check(self, server: Any) -> str:
        """``server`` if it can be asked (enabled in config.toml, or ours), else the error a
        call would raise now (unknown, disabled, misconfigured). Starts nothing."""
        return self._get(server).name

    # -- for ACP agents -----------------------------------------------------------------
    def enabled_specs(self) -> list[ServerSpec]:
        """The user's enabled, valid servers (what ACP agents are offered at session/new)."""
        specs, _errors = self.specs()
        return [s for _, s in sorted(specs.items()) if s.enabled]

    async def close(self) -> None:
        """Stop every server (orchestrator shutdown)."""
        import asyncio

        self._closed = True
        conns, self._conns = list(self._conns.values()), {}
        await asyncio.gather(*(c.stop() for c in conns), *_DETACHED, return_exceptions=True)


_DETACHED: set[Any] = set()


def _detach(conn: ServerConnection) -> None:
    """Stop a connection whose config changed, in the background (kept referenced)."""
    import asyncio

    task = asyncio.get_running_loop().create_task(conn.stop())
    _DETACHED.add(task)
    task.add_done_callback(_DETACHED.discard)


def for_app(app: Any) -> McpClients:
    """The orchestrator's MCP clients: config.toml's servers, orchflow's own in process,
    commands checked by the core's rules (origin ``mcp``)."""

    def ours() -> Any:
        from orchestrator.mcp.api import LocalApi
        from orchestrator.mcp.server import build_server

        return build_server(LocalApi(app))

    async def enforce(command: str, server: str, tool: str) -> None:
        await app.core.rules.enforce(
            command,
            origin="mcp",
            what=f"mcp:{server}.{tool}",
            pane=f"mcp:{server}",
            pane_name=f"MCP server {server!r} (tool {tool})",
        )

    return McpClients(
        lambda: (app.core.config.get("mcp") or {}).get("servers") or {},
        app.breakers,
        state_dir=app.options.state_dir,
        ours=ours,
        enforce=enforce,
    )
