"""The Core every test-runner test drives: a private tmux server, isolated dirs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.core import Core
from tests.harness.tmux import TmuxServer

CONF = str(Path(__file__).resolve().parents[1] / "tmux.conf")


@pytest.fixture
async def core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    c = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    await c.start()
    yield c
    await c.close()
