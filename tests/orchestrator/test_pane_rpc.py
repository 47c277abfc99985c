"""The orchestrator's pane.* methods over JSON-RPC (what the MCP tools call), against a real
orchestrator process and a private tmux server."""

from __future__ import annotations

import pytest

from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.rpc.protocol import MethodNotFoundError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess


def tmux_panes(tmux: TmuxServer) -> list[str]:
    return tmux.run("list-panes", "-a", "-F", "#{pane_id}").split()


async def test_pane_new_run_output_close(
    orch: OrchestratorProcess, private_tmux: TmuxServer
) -> None:
    async with await orch.client() as client:
        pane = await client.call("pane.new", {"name": "rpc-pane"})
        assert pane["pane_id"] in tmux_panes(private_tmux)
        run = await client.call("pane.run", {"pane": "rpc-pane", "cmd": "echo out-$((2*21))"})
        done = await client.call("run.wait", {"id": run["id"], "timeout_s": 20})
        assert done["exit_code"] == 0
        out = await client.call("pane.output", {"pane": "rpc-pane", "lines": 5})
        assert "out-42" in out["text"] and out["pane_id"] == pane["pane_id"]
        closed = await client.call("pane.close", {"pane": "rpc-pane"})
        assert closed["id"] == pane["id"]
        assert pane["pane_id"] not in tmux_panes(private_tmux)
        with pytest.raises(NotFoundError):
            await client.call("pane.output", {"pane": "rpc-pane"})
        with pytest.raises(InvalidArgumentError, match="lines"):
            await client.call("pane.output", {"pane": "x", "lines": 0})
        with pytest.raises(InvalidArgumentError, match="'bogus'"):
            await client.call("pane.list", {"bogus": 1})
        with pytest.raises(MethodNotFoundError):  # the editor's, not served here
            await client.call("pane.watch", {"pane": "x"})
    methods = (await orch.call("system.version"))["methods"]
    assert {"pane.new", "pane.output", "pane.close"} <= set(methods)
    assert "pane.watch" not in methods


async def test_pane_commands_over_rpc_are_checked_as_origin_mcp(
    orch: OrchestratorProcess, private_tmux: TmuxServer
) -> None:
    """Rules: a JSON-RPC client (the MCP tools) cannot be asked, so a confirm rule refuses
    its command, and a block rule blocks it; nothing reaches the pane."""
    from orchflow_core.errors import PermissionDeniedError

    async with await orch.client() as client:
        await client.call(
            "protocol.add",
            {"pattern": "echo ask-first", "kind": "shell", "action": "confirm", "message": "ask"},
        )
        pane = await client.call("pane.new", {"name": "guarded"})
        with pytest.raises(PermissionDeniedError, match=r"cannot be asked|mcp"):
            await client.call("pane.run", {"pane": "guarded", "cmd": "echo ask-first"})
        with pytest.raises(PermissionDeniedError):
            await client.call("pane.send", {"pane": "guarded", "text": "rm -rf /", "enter": True})
        screen = private_tmux.run("capture-pane", "-p", "-t", pane["pane_id"])
        assert "ask-first" not in screen and "rm -rf" not in screen
