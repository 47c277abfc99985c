"""Backends for the mux tests: a real tmux on the run's private socket, or the native PTY one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator

import pytest

from orchflow_core.mux.backend import MuxBackend
from tests.harness.tmux import TmuxServer


@pytest.fixture(params=["tmux", "pty"])
async def backend(request: pytest.FixtureRequest, tmux_server: TmuxServer) -> AsyncIterator[MuxBackend]:
    """A started backend; every contract test runs once per backend."""
    be: MuxBackend
    if request.param == "tmux":
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed")
        from orchflow_core.mux.tmux import TmuxBackend

        be = TmuxBackend(socket=tmux_server.socket, config_file="/dev/null")
    else:
        pty = pytest.importorskip("orchflow_core.mux.pty")
        be = pty.PtyBackend(events=None, ring_bytes=65536)
    await be.start()
    yield be
    await be.close()


@pytest.fixture
async def session(backend: MuxBackend) -> AsyncIterator[str]:
    """A fresh session on ``backend``, killed afterwards with everything in it."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await backend.create_session(name)
    yield name
    try:
        await backend.kill_session(name)
    except Exception:
        pass  # the test killed it itself
