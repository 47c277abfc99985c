"""The host's connection to an orchestrator (sidecar or shared service)."""
