"""Fixtures: the fake model API (fake_api.py) on a free local port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.orchestrator.providers.fake_api import FakeApi


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    try:
        yield server
    finally:
        server.close()
