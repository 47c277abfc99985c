"""Cores for the module tests: isolated dirs; a private tmux server only where a run needs one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.core import Core
from orchflow_core.registry import load_methods_lazily
from tests.harness.tmux import TmuxServer

CONF = str(Path(__file__).resolve().parents[1] / "tmux.conf")


@pytest.fixture
async def plain_core(isolated: Path) -> AsyncIterator[Core]:
    """A Core with no tmux (the module system needs none); project root: isolated/project."""
    load_methods_lazily()
    (isolated / "project").mkdir()
    c = Core(project_root=isolated / "project")
    await c.start()
    yield c
    await c.close()


@pytest.fixture
async def tmux_core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    load_methods_lazily()
    (isolated / "project").mkdir()
    c = Core({"tmux": {"config_file": CONF}}, project_root=isolated / "project")
    await c.start()
    yield c
    await c.close()
