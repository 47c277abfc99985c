"""orchflow's MCP server: the SDK's low-level ``Server`` over the tools in tools.py.

``build_server(api)`` serves any transport the SDK has (stdio in ``orchflow-orchestrator
mcp``, Streamable HTTP at ``/mcp`` on the orchestrator's listener, in memory in tests) and
both protocol eras (the 2026-07-28 stateless one with ``server/discover``, and the
``initialize`` handshake before it): the SDK's server loop handles that, we only answer
tools and resources.

A failed tool is an MCP tool error (``isError: true`` with the message, which names the bad
argument), never a success and never a protocol error; a failed resource read is a JSON-RPC
error with orchflow's code and message.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, unquote

import mcp_types as types
import orjson
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from orchestrator.mcp.tools import TOOLS, Api, call_tool, invoke
from orchflow_core import __version__
from orchflow_core.errors import InvalidArgumentError, OrchflowError

log = logging.getLogger(__name__)

SERVER_NAME = "orchflow"
PANE_OUTPUT_TEMPLATE = "orchflow://pane/{id}/output"
MEMORY_TEMPLATE = "orchflow://memory/{namespace}/{key}"
RESOURCE_LINES = 200
INSTRUCTIONS = (
    "orchflow: tmux panes with exit codes, project search, files, command history, agents "
    "and a persistent memory, from the user's Neovim workspace. pane_run waits for a "
    "command's end and returns the shell's exit code and the output tail."
)


def _text(value: Any) -> str:
    """JSON text of a result (orjson: a call's result is encoded twice, as this text and
    as structuredContent by the SDK; this half is the cheap one)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an int beyond 64 bits, a non-str key: the standard library's way
        return json.dumps(value, ensure_ascii=False, default=str)


def tool_list() -> list[types.Tool]:
    return [
        types.Tool(
            name=tool.name,
            description=tool.description,
            input_schema=tool.input_schema(),
            annotations=types.ToolAnnotations(read_only_hint=tool.read_only),
        )
        for tool in TOOLS
    ]


def pane_output_uri(pane: str) -> str:
    return PANE_OUTPUT_TEMPLATE.replace("{id}", quote(pane, safe=""))


def build_server(api: Api) -> Server[Any]:
    """An MCP server whose tools and resources call ``api``."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            result = await call_tool(api, params.name, params.arguments)
        except OrchflowError as exc:
            log.info("MCP tool %s failed: %s", params.name[:100], exc.message)
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=exc.message)], is_error=True
            )
        structured = result if isinstance(result, dict) else {"items": result}
        # built without validation (``model_construct``): the fields are ours and of the
        # right types; validating them costs more than the rest of our side of a call
        return types.CallToolResult.model_construct(
            content=[types.TextContent.model_construct(type="text", text=_text(result))],
            structured_content=structured,
            is_error=False,
        )

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        panes = await _api_or_error(invoke(api, "pane.list", {}))
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=pane_output_uri(p["id"]),
                    name=f"pane {p.get('name') or p['id']} output",
                    description=f"the last {RESOURCE_LINES} lines of pane {p.get('name')}",
                    mime_type="text/plain",
                )
                for p in panes
            ]
        )

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    name="pane-output",
                    uri_template=PANE_OUTPUT_TEMPLATE,
                    description=f"a pane's last {RESOURCE_LINES} lines (id: orchflow id or name)",
                    mime_type="text/plain",
                ),
                types.ResourceTemplate(
                    name="memory-entry",
                    uri_template=MEMORY_TEMPLATE,
                    description="a memory entry's value, by namespace and key",
                    mime_type="application/json",
                ),
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        kind, parts = _parse_uri(uri)
        if kind == "pane":
            out = await _api_or_error(
                invoke(api, "pane.output", {"pane": parts[0], "lines": RESOURCE_LINES})
            )
            text, mime = out["text"], "text/plain"
        else:
            entry = await _api_or_error(
                invoke(api, "memory.get", {"namespace": parts[0], "key": parts[1]})
            )
            text, mime = _text(entry["value"]), "application/json"
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)]
        )

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


def _parse_uri(uri: str) -> tuple[str, list[str]]:
    """("pane", [id]) or ("memory", [namespace, key]); MCPError -32602 naming the URI."""
    rest = uri.removeprefix("orchflow://")
    parts = rest.split("/")
    if rest != uri and len(parts) == 3 and parts[0] == "pane" and parts[2] == "output":
        return "pane", [unquote(parts[1])]
    if rest != uri and len(parts) == 3 and parts[0] == "memory" and parts[1] and parts[2]:
        return "memory", [unquote(parts[1]), unquote(parts[2])]
    raise MCPError(
        InvalidArgumentError.code,
        f"unknown resource {uri[:200]!r}: expected {PANE_OUTPUT_TEMPLATE} or {MEMORY_TEMPLATE}",
    )


async def _api_or_error(call: Any) -> Any:
    try:
        return await call
    except OrchflowError as exc:
        raise MCPError(exc.code, exc.message) from None
