"""The discovery file: atomic 0600 writes, strict reads, removal only by its owner."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from orchestrator import discovery
from orchflow_core.errors import InvalidArgumentError, NotFoundError

INFO = discovery.Discovery(
    url="ws://127.0.0.1:5000/",
    token="t" * 43,
    pid=os.getpid(),
    version="0.1.0",
    started_at=1.5,
    mode="service",
)


def test_write_is_private_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "run" / "orchestrator.json"
    discovery.write(path, INFO)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert discovery.read(path) == INFO
    assert [p.name for p in path.parent.iterdir()] == ["orchestrator.json"]  # no temp left
    assert "t" * 43 not in repr(discovery.read(path))


def test_bad_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    with pytest.raises(NotFoundError, match="no orchestrator discovery file"):
        discovery.read(path)
    path.write_text("{not json")
    path.chmod(0o600)  # written by hand here: private, as orchflow writes it
    with pytest.raises(InvalidArgumentError, match="is not JSON"):
        discovery.read(path)
    path.write_text(json.dumps({**INFO.to_dict(), "pid": "12"}))
    with pytest.raises(InvalidArgumentError, match="field 'pid' must be int"):
        discovery.read(path)


def test_remove_only_our_own(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    discovery.write(path, INFO)
    assert discovery.remove_if_ours(path, os.getpid() + 1) is False and path.exists()
    assert discovery.remove_if_ours(path, os.getpid()) is True and not path.exists()


def test_pid_alive() -> None:
    assert discovery.pid_alive(os.getpid())
    assert not discovery.pid_alive(0)


def test_the_cli_reader_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    """The orchestrator CLI (status, stop) reads with the host's checks: no token from a
    file that is not private."""
    from orchflow_core.errors import PermissionDeniedError

    path = tmp_path / "orchestrator.json"
    discovery.write(path, INFO)
    path.chmod(0o644)
    with pytest.raises(PermissionDeniedError, match="readable by others"):
        discovery.read(path)
