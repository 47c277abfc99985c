"""The host bridge without an editor: calls run on the core thread and never raise."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from orchflow.bridge import Bridge

from orchflow_core.api import METHODS, Params
from orchflow_core.core import Core


def make_bridge() -> tuple[Bridge, list[tuple[str, dict[str, Any]]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    return Bridge(lambda kind, data: seen.append((kind, data))), seen


def test_init_then_call(isolated: Path) -> None:
    bridge, _ = make_bridge()
    ok, res = bridge.submit("init", {"overrides": {"log": {"level": "debug"}}}).result(timeout=5)
    assert ok and res["config"]["log"]["level"] == "debug"
    ok, res = bridge.submit("version", {}).result(timeout=5)
    assert ok and res["orchflow_core"] == "0.1.0"
    bridge.close()


def test_unknown_method_and_bad_params_are_errors_not_exceptions(isolated: Path) -> None:
    bridge, _ = make_bridge()
    ok, err = bridge.submit("nope", {}).result(timeout=5)
    assert not ok and err["message"] == "unknown method 'nope'"
    assert err["code"] == -32601  # JSON-RPC's MethodNotFound, as the orchestrator answers
    ok, err = bridge.submit("config.set", {"overrides": 3}).result(timeout=5)
    assert not ok and err["code"] == -32602 and "'overrides'" in err["message"]
    bridge.close()


def test_internal_errors_carry_no_traceback(isolated: Path) -> None:
    @METHODS.method("test.boom")
    async def boom(core: Core, params: Params) -> None:
        raise RuntimeError("secret detail")

    bridge, _ = make_bridge()
    ok, err = bridge.submit("test.boom", {}).result(timeout=5)
    assert not ok and err["code"] == -32603
    assert "secret" not in err["message"] and "Traceback" not in err["message"]
    assert "see :Orchflow log" in err["message"]
    bridge.close()


def test_events_are_forwarded_from_the_core_thread(isolated: Path) -> None:
    @METHODS.method("test.emit")
    async def emit(core: Core, params: Params) -> str:
        core.events.publish("pane.created", pane_id="%1")
        return threading.current_thread().name

    bridge, seen = make_bridge()
    bridge.submit("init", {}).result(timeout=5)
    ok, thread = bridge.submit("test.emit", {}).result(timeout=5)
    assert ok and thread == "orchflow-core"
    assert seen == [("pane.created", {"pane_id": "%1"})]
    bridge.close()


def test_bad_config_file_still_serves_calls(isolated: Path) -> None:
    import os

    Path(os.environ["ORCHFLOW_CONFIG"]).parent.mkdir(parents=True, exist_ok=True)
    Path(os.environ["ORCHFLOW_CONFIG"]).write_text("[tmux\n")
    bridge, _ = make_bridge()
    ok, err = bridge.submit("init", {}).result(timeout=5)
    assert not ok and "invalid TOML" in err["message"]
    ok, _ = bridge.submit("version", {}).result(timeout=5)
    assert ok
    bridge.close()


def test_a_lazy_module_that_fails_to_import_says_so_on_every_call(isolated: Path) -> None:
    import tests.harness.host_methods  # noqa: F401  (registers the lazy test.broken.*)

    bridge, _ = make_bridge()
    for _ in range(2):
        ok, err = bridge.submit("test.broken.first", {}).result(timeout=5)
        assert not ok and err["code"] == -32003
        assert "ModuleNotFoundError" in err["message"]
        assert "orchflow_test_dependency_that_is_not_installed" in err["message"]
    bridge.close()


def test_a_host_that_cannot_write_its_log_says_so_and_still_answers(
    isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("ORCHFLOW_LOG_DIR", str(blocker / "log"))
    bridge, _ = make_bridge()
    ok, err = bridge.submit("init", {}).result(timeout=5)
    assert not ok and "cannot write its log file" in err["message"]
    assert "$ORCHFLOW_LOG_DIR" in err["message"]
    ok, _ = bridge.submit("version", {}).result(timeout=5)
    assert ok
    bridge.close()
