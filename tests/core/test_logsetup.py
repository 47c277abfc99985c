"""orchflow_core.logsetup: the file of this process, and a clear error when it cannot be."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from orchflow_core import logsetup, paths
from orchflow_core.errors import ConfigError


def test_each_process_kind_writes_its_own_file(isolated: Path) -> None:
    assert logsetup.configure(process="orchestrator") == str(paths.log_file("orchestrator"))
    logging.getLogger("orchestrator.test").warning("to the orchestrator log")
    assert logsetup.configure(process="host") == str(paths.log_file("host"))
    logging.getLogger("orchflow_core.test").warning("to the host log")
    assert "to the orchestrator log" in paths.log_file("orchestrator").read_text()
    assert "to the host log" not in paths.log_file("orchestrator").read_text()
    assert "to the host log" in paths.log_file("host").read_text()
    assert paths.log_file("host").stat().st_mode & 0o777 == 0o600


def test_an_unwritable_log_dir_is_a_config_error_naming_the_file_and_the_fix(
    isolated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ORCHFLOW_LOG_DIR", str(blocker / "log"))
    with pytest.raises(ConfigError) as info:
        logsetup.configure()
    assert str(blocker / "log" / "host.log") in info.value.message
    assert "ORCHFLOW_LOG_DIR" in info.value.message
    logging.getLogger("orchflow_core.test").warning("nowhere")  # not to stderr either
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("ORCHFLOW_LOG_DIR")
    logsetup.configure()  # a later call that can write takes over again
    logging.getLogger("orchflow_core.test").warning("back")
    assert "back" in paths.log_file().read_text()
