"""module.* over the orchestrator's JSON-RPC, against a real orchestrator process: the built-in
modules, a user module's command, disabling the test runner, and the features row."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchflow_core.errors import PermissionDeniedError, UnavailableError
from tests.harness.tmux import TmuxServer
from tests.modules.fixtures import module
from tests.modules.test_modules import greet
from tests.orchestrator.server_process import OrchestratorProcess

LISTER = """def register(api):
    @api.method("lister.ls")
    async def ls(api_, params):
        return (await api_.run(["ls", "/"])).stdout
"""


async def test_modules_over_json_rpc(
    orch: OrchestratorProcess, project: Path, tmp_path: Path
) -> None:
    listing = await orch.call("module.list", {})
    states = {m["name"]: m["state"] for m in listing["modules"]}
    assert states["testing"] == states["templates"] == "enabled"
    greet(tmp_path / "home" / "config" / "orchflow" / "modules", fs=["{project}"])
    listing = await orch.call("module.list", {"reload": True})
    assert {m["name"]: m["state"] for m in listing["modules"]}["greet"] == "enabled"
    res = await orch.call("module.command", {"name": "hello", "args": ["rpc"]})
    assert res == {"text": "hello rpc", "from": "greet"}
    module(
        tmp_path / "home" / "config" / "orchflow" / "modules",
        "lister",
        LISTER,
        permissions={"exec": ["echo"]},
        contributes={"methods": ["lister.ls"],
                     "commands": [{"name": "list-root", "method": "lister.ls"}]},
    )  # fmt: skip
    await orch.call("module.list", {"reload": True})
    with pytest.raises(PermissionDeniedError, match="module 'lister' may not run 'ls'"):
        await orch.call("module.command", {"name": "list-root"})
    info = await orch.call("module.disable", {"name": "testing"})
    assert info["state"] == "disabled"
    with pytest.raises(UnavailableError, match="belongs to module 'testing', which is disabled"):
        await orch.call("test.detect", {"cwd": str(project)})
    await orch.call("module.enable", {"name": "testing"})
    assert await orch.call("test.detect", {"cwd": str(project)})
    features = (await orch.call("system.features"))["features"]
    assert features["modules"]["status"] == "implemented"
    assert features["modules"]["kinds"] == ["layout", "agent", "tool", "provider"]


async def test_a_modules_agent_joins_the_registry(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    """The module is in place before the orchestrator starts (as an installed one would be)."""
    base = tmp_path / "home" / "config" / "orchflow" / "modules"
    agent = {"name": "echo-agent", "label": "Echo", "command": ["echo", "hi"],
             "transport": "terminal"}  # fmt: skip
    module(base, "agents", kind="agent", contributes={"agents": [agent]})
    module(base, "badagent", kind="agent",
           contributes={"agents": [{**agent, "name": "bad", "transport": "pigeon"}]})  # fmt: skip
    orch = await OrchestratorProcess.start(tmp_path / "home", private_tmux.socket,
                                           project_root=project)  # fmt: skip
    try:
        specs = {s["name"]: s for s in await orch.call("agent.registry", {})}
        assert specs["echo-agent"]["command"] == ["echo", "hi"]
        assert specs["echo-agent"]["label"] == "Echo"
        assert "claude" in specs  # the shipped ones stay
        mods = {m["name"]: m for m in (await orch.call("module.list", {}))["modules"]}
        assert "contributes.agents[0]" in mods["badagent (user)"]["error"]
        assert "pigeon" in mods["badagent (user)"]["error"]
        await orch.call("module.disable", {"name": "agents"})
        names = [s["name"] for s in await orch.call("agent.registry", {})]
        assert "echo-agent" not in names
    finally:
        await orch.stop()
