"""Executors: where a swarm task runs (``base.Executor``); ``local`` is tmux panes."""
