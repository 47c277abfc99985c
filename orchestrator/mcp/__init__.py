"""orchflow as an MCP server (tools.py: the tools; server.py: the SDK server; api.py: how
tools reach the API; stdio.py: ``orchflow-orchestrator mcp``; http.py: ``/mcp``)."""
