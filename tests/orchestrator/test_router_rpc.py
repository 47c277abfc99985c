"""ai.route / ai.feedback served by a real orchestrator process over JSON-RPC: the seed's
shape, parameters checked, feedback learned, system.features honest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchflow_core.errors import InvalidArgumentError
from tests.orchestrator.server_process import OrchestratorProcess

FIXTURES = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "router"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / "node", root)
    return root


async def test_route_and_feedback_over_json_rpc(orch: OrchestratorProcess, project: Path) -> None:
    ctx = {"cwd": str(project)}
    async with await orch.client() as client:
        features = (await client.call("system.features"))["features"]
        assert features["router"]["status"] == "implemented"
        out = await client.call("ai.route", {"input": "tests for authentication", "context": ctx})
        assert {"agent_type", "suggested_command", "confidence", "reason", "alternatives"} <= set(
            out
        )
        assert out["agent_type"] == "test"
        assert out["suggested_command"] == "pnpm run test -- -t authentication"
        assert out["confidence"] >= 0.5
        assert all({"agent_type", "command", "confidence"} == set(a) for a in out["alternatives"])
        with pytest.raises(InvalidArgumentError, match="'prompt'"):
            await client.call("ai.route", {"input": "x", "prompt": "y"})
        with pytest.raises(InvalidArgumentError, match="input is empty"):
            await client.call("ai.route", {"input": ""})
        with pytest.raises(InvalidArgumentError, match="binary"):
            await client.call("ai.route", {"input": "\x01\x02"})
        for _ in range(3):
            await client.call(
                "ai.feedback",
                {
                    "input": "ship it",
                    "context": ctx,
                    "verdict": "edit",
                    "agent_type": "build",
                    "command": "pnpm run build",
                },
            )
        learned = await client.call("ai.route", {"input": "ship it!", "context": ctx})
        assert learned["tier"] == "learned" and learned["suggested_command"] == "pnpm run build"
