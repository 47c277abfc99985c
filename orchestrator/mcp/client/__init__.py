"""orchflow as an MCP client of the user's servers (``[mcp.servers.<name>]``): spec.py (the
config), state.py (a connection's states), connection.py (one server through the SDK's
``Client``), manager.py (all of them and their breakers). The ``mcp.*`` methods are in
orchestrator/api/mcp_client.py."""
