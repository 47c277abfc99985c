"""orchflow's orchestrator: a separate JSON-RPC-over-WebSocket process for agents and memory.

Run it with ``orchflow-orchestrator serve`` or ``python -m orchestrator serve``.
"""
