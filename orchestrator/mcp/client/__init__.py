"""orchflow as an MCP client of the user's servers (``[mcp.servers.<name>]``): spec.py (the
config), state.py (a connection's states), connection.py (one server through the SDK's
``Client``), manager.py (all of them, their breakers; ``mcp.*`` in orchestrator/api/mcp.py)."""
