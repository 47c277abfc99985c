"""Reviewing an agent's worktree hunk by hunk (``review.*``, orchestrator/api/review.py).

changes.py reads what the agent changed against its base; patch.py applies one hunk to a
file's bytes; landing.py accepts into the user's tree and rejects in the agent's;
finish.py merges, squashes or rebases the agent's branch; service.py keeps the per-agent
state (locks, hunk ids, comments) and overlaps between agents.
"""
