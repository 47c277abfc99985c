"""The request router behind ``ai.route`` / ``ai.feedback`` (see router.py)."""
