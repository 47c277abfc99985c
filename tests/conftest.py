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


# -- the checkout stays as it was ----------------------------------------------------------
# An AI agent started with its cwd in this checkout gets a worktree and branch of orchflow's
# own repository ([worktree] ai); a test that does so pollutes the developer's repository.
_REPO = Path(__file__).resolve().parent.parent


def _agent_branches() -> set[str]:
    import subprocess

    out = subprocess.run(
        ["git", "-C", str(_REPO), "branch", "--list", "orchflow/*", "--format=%(refname:short)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(out.stdout.split()) if out.returncode == 0 else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BRANCHES] = _agent_branches()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    new = _agent_branches() - session.config.stash.get(_BRANCHES, set())
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"tests left agent branches in the checkout: {', '.join(sorted(new))} "
                "(start AI agents outside the repository)",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BRANCHES = pytest.StashKey[set[str]]()
