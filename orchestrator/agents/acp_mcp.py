"""The user's MCP servers (``[mcp.servers.<name>]``) as ACP ``mcpServers`` for ``session/new``.

ACP agents connect to the servers themselves. Every agent takes stdio servers (the command
as an absolute path, its args and env); Streamable HTTP servers only go to an agent that
advertised ``mcpCapabilities.http`` at ``initialize`` (the others are skipped and the reason
is logged). ACP has no working directory for a stdio server: one with ``cwd`` is passed
without it (the agent starts it in the session's cwd).
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from acp.schema import EnvVariable, HttpHeader, HttpMcpServer, McpServerStdio

from orchestrator.mcp.client.spec import ServerSpec

log = logging.getLogger(__name__)

AcpMcpServer = HttpMcpServer | McpServerStdio


def acp_servers(
    specs: list[ServerSpec], agent_caps: Any, *, agent: str
) -> tuple[list[AcpMcpServer], list[str]]:
    """(servers to pass, "name: why" for each one left out)."""
    mcp_caps = getattr(agent_caps, "mcp_capabilities", None)
    http_ok = bool(mcp_caps is not None and mcp_caps.http)
    out: list[AcpMcpServer] = []
    skipped: list[str] = []
    for spec in specs:
        if spec.transport == "stdio":
            out.append(
                McpServerStdio(
                    name=spec.name,
                    command=shutil.which(spec.command) or spec.command,
                    args=list(spec.args),
                    env=[EnvVariable(name=k, value=v) for k, v in spec.env.items()],
                )
            )
        elif http_ok:
            out.append(
                HttpMcpServer(
                    type="http",
                    name=spec.name,
                    url=spec.url,
                    headers=[HttpHeader(name=k, value=v) for k, v in spec.headers.items()],
                )
            )
        else:
            skipped.append(f"{spec.name}: the agent does not take MCP servers over HTTP")
    if skipped:
        log.info("agent %s: MCP servers not offered: %s", agent, "; ".join(skipped))
    return out, skipped
