"""Fixtures shared by every test: isolated dirs, a private tmux server, a real Neovim."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.editor import Editor, isolated_env
from tests.harness.tmux import TmuxServer


@pytest.fixture(scope="session")
def tmux_server() -> Iterator[TmuxServer]:
    """One private tmux server per test run; orchflow finds it via ORCHFLOW_TMUX_SOCKET."""
    server = TmuxServer()
    old = os.environ.get("ORCHFLOW_TMUX_SOCKET")
    os.environ["ORCHFLOW_TMUX_SOCKET"] = server.socket
    yield server
    server.kill()
    if old is None:
        os.environ.pop("ORCHFLOW_TMUX_SOCKET", None)
    else:
        os.environ["ORCHFLOW_TMUX_SOCKET"] = old


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG and orchflow dirs under tmp_path for this test and its children."""
    for key, value in isolated_env(tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    return tmp_path / "home"


@pytest.fixture
def private_tmux(monkeypatch: pytest.MonkeyPatch) -> Iterator[TmuxServer]:
    """A tmux server for this test alone, so panes never leak between tests."""
    server = TmuxServer()
    monkeypatch.setenv("ORCHFLOW_TMUX_SOCKET", server.socket)
    yield server
    server.kill()


@pytest.fixture
def editor(isolated: Path, private_tmux: TmuxServer) -> Iterator[Editor]:
    ed = Editor()
    yield ed
    ed.close()
