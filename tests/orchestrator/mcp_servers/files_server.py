"""A real MCP server written with the official SDK (``MCPServer``) whose tools have an effect
a test can see: it writes and reads files in ``$FILES_DIR``. Started by the orchestrator as a
stdio subprocess (``[mcp.servers.files]``) for the ``ai.complete`` tool-loop tests.

Tools: ``write_note {name, text}`` (writes ``$FILES_DIR/<name>``), ``read.note {name}`` (a
dotted name, which the model must see sanitised and orchflow map back).
"""

from __future__ import annotations

import os
from pathlib import Path

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("files", version="1.0")


def _path(name: str) -> Path:
    root = Path(os.environ["FILES_DIR"])
    path = (root / name).resolve()
    if root.resolve() not in path.parents:
        raise ToolError(f"{name!r} is outside the notes directory")
    return path


@server.tool()
def write_note(name: str, text: str) -> str:
    """Write a note file."""
    path = _path(name)
    path.write_text(text, encoding="utf-8")
    return f"wrote {len(text.encode())} bytes to {name}"


@server.tool(name="read.note")
def read_note(name: str) -> str:
    """Read a note file back."""
    path = _path(name)
    if not path.exists():
        raise ToolError(f"no note {name!r}")
    return f"{name} says: {path.read_text(encoding='utf-8')}"


if __name__ == "__main__":
    server.run()
