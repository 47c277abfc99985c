"""Loaded by Python at start-up when this directory is on PYTHONPATH (see
tests/harness/host_methods.py): gives the real Neovim host test-only methods."""

import tests.harness.host_methods  # noqa: F401
