"""The test runner over the orchestrator's JSON-RPC: test.* served as core has them, and an
honest system.features row."""

from __future__ import annotations

from pathlib import Path

from tests.orchestrator.server_process import OrchestratorProcess
from tests.testing.helpers import PYTEST_SUITE, ours, plural, pytest_summary, write


async def test_test_run_over_json_rpc(orch: OrchestratorProcess, project: Path) -> None:
    root = write(project / "suite", PYTEST_SUITE)
    found = await orch.call("test.detect", {"cwd": str(project)})
    assert [(d["framework"], d["root"]) for d in found] == [("pytest", str(project))]
    started = await orch.call("test.run", {"cwd": str(root)})
    res = await orch.call("test.results", {"run_id": started["run_id"], "wait_s": 120})
    assert res["state"] == "failed" and ours(res) == plural(pytest_summary(root))
    last = await orch.call("test.last", {})
    assert last["run_id"] == started["run_id"]
    features = (await orch.call("system.features"))["features"]
    assert features["tests"]["status"] == "partial"
    assert features["tests"]["frameworks"] == [
        "pytest",
        "unittest",
        "jest",
        "vitest",
        "go",
        "cargo",
        "make",
    ]
