"""JSON-RPC method tables by domain, registered into orchestrator.methods' table."""
