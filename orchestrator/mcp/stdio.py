"""``orchflow-orchestrator mcp``: orchflow's MCP server over stdio, for AI clients that start
their MCP servers as subprocesses (Claude Code, Codex, Gemini CLI...).

It holds no state of its own: every tool is a call to the running orchestrator (found
through its discovery file; ``api.RemoteApi``). It refuses to start when none runs, with the
way to start one on stderr (where MCP clients show a server's failure); once started, an
orchestrator that restarts is reconnected to on the next call.
"""

from __future__ import annotations

import sys
from pathlib import Path

from orchestrator.mcp.api import RemoteApi
from orchestrator.mcp.server import build_server
from orchestrator.mcp.tools import TOOLS
from orchflow_core.errors import OrchflowError


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
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await api.close()
    return 0
