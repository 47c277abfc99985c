"""orchflow_core.paths: private directories, one log file per process."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orchflow_core import paths


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_directory_it_creates_is_0700_whatever_the_umask(isolated: Path) -> None:
    old = os.umask(0o002)  # a umask that would let the group in
    try:
        deep = paths.state_dir() / "a" / "b"
        assert not paths.state_dir().exists()
        paths.ensure_private_dir(deep)
    finally:
        os.umask(old)
    for d in (paths.state_dir(), paths.state_dir() / "a", deep):
        assert mode(d) == 0o700, d


def test_an_existing_orchflow_dir_is_tightened(isolated: Path) -> None:
    for d in (paths.log_dir(), paths.runtime_dir(), paths.state_dir() / "trash"):
        d.mkdir(parents=True, mode=0o755, exist_ok=True)
        d.chmod(0o755)
        paths.ensure_private_dir(d)
        assert mode(d) == 0o700, d


def test_a_directory_that_is_not_orchflows_is_left_alone(isolated: Path, tmp_path: Path) -> None:
    """The parent of a user's `--listen unix:~/x.sock` is the user's business."""
    theirs = tmp_path / "shared"
    theirs.mkdir()
    theirs.chmod(0o755)
    paths.ensure_private_dir(theirs)
    assert mode(theirs) == 0o755


def test_a_file_in_the_way_is_an_error(isolated: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        paths.ensure_private_dir(blocker)


def test_log_files_are_per_process(isolated: Path) -> None:
    assert paths.log_file() == paths.log_dir() / "host.log"
    assert paths.log_file("orchestrator") == paths.log_dir() / "orchestrator.log"
    with pytest.raises(ValueError):
        paths.log_file("orchflow")
