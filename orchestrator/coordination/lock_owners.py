"""Lock owner keys, and which owners outlive the orchestrator process.

    conn-<n>               a WebSocket connection: ends with the process
    agent-<hex>            an agent being created (its locks, before it has an id)
    agent:<id>             an agent (its pane, or its terminal AI agent's pane, outlives us)
    swarm:<swarm>/<task>   a swarm task's attempt (its command outlives us in tmux or Ray)
    mcp-http               MCP over Streamable HTTP, stateless: its clients outlive us

Only the locks of owners that outlive the process are worth keeping across a restart
(lock_restore.py), so only their changes must be stored before a request is answered
(lock_journal.py); the others are written too, off the round trip.
"""

from __future__ import annotations

MCP_HTTP_OWNER = "mcp-http"


def agent_owner(agent_id: str) -> str:
    return f"agent:{agent_id}"


def outlives_process(owner: str) -> bool:
    return owner == MCP_HTTP_OWNER or owner.startswith(("agent:", "swarm:"))
