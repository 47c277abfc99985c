"""Project knowledge shared by the host and the orchestrator (default commands)."""
