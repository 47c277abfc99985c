"""The host's orchestrator methods (orchflow_core/remote/methods.py) against a real sidecar:
every parameter reaches the orchestrator, which checks them itself."""

from __future__ import annotations

from pathlib import Path

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.registry import load_methods_lazily
from tests.harness.tmux import TmuxServer

load_methods_lazily()


async def test_every_parameter_is_forwarded_and_unknown_ones_are_refused_by_name(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    core = Core({"orchestrator": {"mode": "sidecar"}}, project_root=isolated)
    try:
        # made by the host, found by the orchestrator: one tmux server
        ok, made = await dispatch(core, "session.new", {"name": "agents"})
        assert ok, made
        ok, agent = await dispatch(
            core, "agent.new", {"type": "custom", "command": "cat", "session": "agents"}
        )
        assert ok, agent
        assert agent["session"] == "agents"  # was dropped by the host before
        ok, sent = await dispatch(
            core, "agent.send", {"id": agent["id"], "text": "typed", "enter": False}
        )
        assert ok and sent["enter"] is False, sent  # was dropped: always Enter
        ok, err = await dispatch(core, "agent.send", {"id": agent["id"], "text": "x", "nope": 1})
        assert not ok and err["code"] == -32602 and "'nope'" in err["message"], err
        ok, err = await dispatch(core, "agent.send", {"id": agent["id"]})
        assert not ok and err["code"] == -32602 and "'text'" in err["message"], err
    finally:
        await core.close()
