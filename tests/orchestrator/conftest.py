"""Fixtures: a real orchestrator process on 127.0.0.1 port 0 with a private tmux server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Python project with pytest configured and one passing test."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    )
    (root / "test_demo.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    return root


@pytest.fixture
async def orch(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> AsyncIterator[OrchestratorProcess]:
    server = await OrchestratorProcess.start(
        tmp_path / "home", private_tmux.socket, "--agent-idle-after", "0.3", project_root=project
    )
    try:
        yield server
    finally:
        await server.stop()
