"""Swarms: many tasks (commands or prompts) run as one graph (runner.py, spec.py)."""
