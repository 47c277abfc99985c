"""SPARC modes: data files that set how orchflow works for a while (tdd, debug, review...).

modefile.py reads one file, catalog.py finds them all (shipped, the user's, the
project's), store.py keeps the active mode per project in SQLite, methods.py serves
``mode.list|activate|current|deactivate`` and ``preamble_for``.
"""
