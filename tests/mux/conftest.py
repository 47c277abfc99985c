"""Backends for the mux tests: a real tmux on the run's private socket, or the native PTY one."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from orchflow_core.mux.backend import MuxBackend
from orchflow_core.mux.tmux import TmuxBackend
from tests.harness.tmux import TmuxServer

TMUX_CONF = """\
set -g default-command "exec bash --norc --noprofile"
set -g history-limit 5000
"""


@pytest.fixture(scope="session")
def mux_tmux(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TmuxServer]:
    """A private tmux server for the mux tests. Panes start ``bash --norc``: a user's
    rc files (pyenv's rehash lock, say) must not delay or change what tests see."""
    server = TmuxServer()
    server.socket = f"orchflow-mux-{uuid.uuid4().hex[:8]}"
    conf = tmp_path_factory.mktemp("tmux") / "tmux.conf"
    conf.write_text(TMUX_CONF)
    server.config = str(conf)  # type: ignore[attr-defined]
    yield server
    server.kill()


def tmux_backend(server: TmuxServer, **kwargs: Any) -> TmuxBackend:
    return TmuxBackend(socket=server.socket, config_file=server.config, **kwargs)  # type: ignore[attr-defined]


@pytest.fixture(params=["tmux", "pty"])
async def backend(
    request: pytest.FixtureRequest, mux_tmux: TmuxServer
) -> AsyncIterator[MuxBackend]:
    """A started backend; every contract test runs once per backend."""
    be: MuxBackend
    if request.param == "tmux":
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed")
        be = tmux_backend(mux_tmux)
    else:
        pty = pytest.importorskip("orchflow_core.mux.pty")
        # a plain shell, like the tmux fixture's default-command: rc files can stall
        be = pty.PtyBackend(events=None, ring_bytes=65536, shell=["bash", "--norc", "--noprofile"])
    await be.start()
    yield be
    await be.close()


@pytest.fixture
async def session(backend: MuxBackend) -> AsyncIterator[str]:
    """A fresh session on ``backend``, killed afterwards with everything in it."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await backend.create_session(name)
    yield name
    with contextlib.suppress(Exception):  # the test may have killed it itself
        await backend.kill_session(name)


async def poll_until(
    pred: Callable[[], bool],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait
    interval: float = 0.005,
) -> None:
    """Wait until ``pred()`` holds, for state outside the loop (files, tmux) with no event."""
    async with asyncio.timeout(timeout):
        while not pred():  # noqa: ASYNC110 - see docstring
            await asyncio.sleep(interval)
