"""The terminal manager: sessions and panes over a MuxBackend, persisted in SQLite."""
