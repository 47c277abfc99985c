"""The router's model tier (orchestrator/router_model.py) through a real orchestrator process:
asked only when the fast tiers are unsure, its answer taken only when it names a command the
project has, and never waited for past its budget. The model is the local stand-in server
speaking OpenAI's wire format (fake_api.py: no paid API or weights here)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.tmux import TmuxServer
from tests.orchestrator.providers.fake_api import MODEL, FakeApi
from tests.orchestrator.server_process import OrchestratorProcess, server_env

UNSURE = "sort out the thing from yesterday"


@pytest.fixture
async def route_orch(
    tmp_path: Path, private_tmux: TmuxServer, api: FakeApi
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    env = server_env(base, private_tmux.socket)
    config = Path(env["ORCHFLOW_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[providers.local]\nkind = "openai"\nbase_url = "{api.url}/v1"\nmodel = "{MODEL}"\n'
        "max_retries = 0\n\n"
        '[router]\nmodel_provider = "local"\nmodel_budget_ms = 1500\n'
    )
    root = tmp_path / "project"
    root.mkdir()
    (root / "Makefile").write_text(
        "test:\n\tpytest -q\n\nlint:\n\truff check .\n\nserve:\n\tpython -m http.server\n"
    )
    server = await OrchestratorProcess.start(base, private_tmux.socket, env=env, project_root=root)
    try:
        yield server
    finally:
        await server.stop()


def answer(**route: object) -> tuple[str, list[str]]:
    return ("ok", [json.dumps(route)])


async def test_the_model_answers_only_when_the_fast_tiers_are_unsure(
    route_orch: OrchestratorProcess, api: FakeApi, tmp_path: Path
) -> None:
    cwd = str(tmp_path / "project")
    async with await route_orch.client() as client:
        sure = await client.call("ai.route", {"input": "run the tests", "context": {"cwd": cwd}})
        assert sure["tier"] != "model" and sure["suggested_command"] == "make test"
        assert api.requests == []  # the model was not asked

        api.script(answer(agent_type="lint", command="make lint", confidence=0.8))
        got = await client.call("ai.route", {"input": UNSURE, "context": {"cwd": cwd}})
        assert (got["tier"], got["agent_type"], got["suggested_command"]) == (
            "model",
            "lint",
            "make lint",
        )
        assert got["confidence"] == 0.8 and got["reason"].startswith("model tier (local,")
        assert got["alternatives"][0]["tier"] != "model"  # the fast answer, kept as one
        sent = json.dumps(api.requests[-1]["body"])
        assert "make lint" in sent and "sort out the thing" in sent  # the project's commands

        # a command the project does not have is not taken
        api.script(answer(agent_type="build", command="rm -rf build && make all"))
        kept = await client.call("ai.route", {"input": UNSURE, "context": {"cwd": cwd}})
        assert kept["tier"] != "model" and "not taken, command 'rm -rf build" in kept["reason"]

        # an answer that does not come within the budget is not waited for
        api.script(("stall", ['{"agent_type": ']))
        late = await client.call("ai.route", {"input": UNSURE, "context": {"cwd": cwd}})
        assert late["tier"] != "model" and "no answer within 1500 ms" in late["reason"]
