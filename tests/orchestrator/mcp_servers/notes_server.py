"""A real MCP server written with the official SDK (``MCPServer``), for orchflow's MCP client
tests: started by the orchestrator as a stdio subprocess, or (``--http``) as a Streamable HTTP
listener that wants ``Authorization: Bearer $NOTES_TOKEN``.

Tools: ``echo {text}``, ``add {a, b}`` (structured output), ``fail {why}`` (a tool error),
``hang {seconds}`` (answers late), ``run {command}`` (says what it would run), ``exit``
(the process dies mid-call), ``learn {name}`` (adds a tool and announces the change).
``--crash-at-start`` exits at once with a message on stderr; ``--hang-at-start`` never
answers.
With ``NOTES_PID_FILE`` set it writes its pid there (tests check nothing outlives orchflow).
"""

from __future__ import annotations

import os

if os.environ.get("NOTES_PID_FILE"):  # first, before the SDK's imports (a second or more)
    with open(os.environ["NOTES_PID_FILE"], "a") as f:
        f.write(f"{os.getpid()}\n")

import asyncio
import socket
import sys
import time
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("notes", version="1.0")


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"notes echo: {text}"


@server.tool()
def add(a: int, b: int) -> dict[str, int]:
    """Add two integers."""
    return {"sum": a + b}


@server.tool()
def fail(why: str) -> str:
    """Fail with the reason (a tool error)."""
    raise ToolError(f"failed on purpose: {why}")


@server.tool()
async def hang(seconds: float) -> str:
    """Answer after the given seconds."""
    await asyncio.sleep(seconds)
    return "woke up"


@server.tool()
def run(command: str) -> str:
    """Say which command it would run (it runs nothing)."""
    return f"would run: {command}"


@server.tool()
async def learn(name: str, ctx: Context) -> str:
    """Add a tool named ``name`` (it echoes) and announce that the tools changed."""

    def learned(text: str) -> str:
        return f"{name}: {text}"

    server.add_tool(learned, name=name, description=f"learned at run time as {name}")
    await ctx.notify_tools_changed()
    return f"learned {name}"


@server.tool(name="exit")
def exit_now() -> str:
    """End the process in the middle of the call."""
    os._exit(5)


def serve_http() -> None:
    import uvicorn

    token = os.environ.get("NOTES_TOKEN", "")
    app = server.streamable_http_app(stateless_http=True, json_response=True)

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode() != f"Bearer {token}":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"bad token"})
                return
        await app(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(guarded, log_level="warning", lifespan="on")
    app_server = uvicorn.Server(config)
    # the SDK's app needs its lifespan (the session manager); uvicorn runs it
    asyncio.run(app_server.serve(sockets=[sock]))


def main() -> None:
    if "--crash-at-start" in sys.argv:
        token = os.environ.get("NOTES_TOKEN", "")
        print(
            f"notes: cannot open the notes database with token {token} (crashing on purpose)",
            file=sys.stderr,
        )
        sys.exit(3)
    if "--hang-at-start" in sys.argv:
        time.sleep(3600)  # never answers initialize or server/discover
    if "--http" in sys.argv:
        serve_http()
    else:
        server.run()


if __name__ == "__main__":
    main()
