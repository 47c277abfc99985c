"""Coordination: resource locks, circuit breakers and the cron scheduler (issue 13)."""
