"""Core.reconfigure: setup() called again while orchflow runs (:help orchflow-setup-runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchflow_core.core import Core
from orchflow_core.errors import ConfigError
from tests.harness.tmux import TmuxServer


async def test_a_changed_sidecar_option_restarts_the_sidecar_with_it(
    isolated: Path, private_tmux: TmuxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCHFLOW_TMUX_SOCKET")
    other = TmuxServer()
    same = {"orchestrator": {"mode": "sidecar"}, "tmux": {"socket": private_tmux.socket}}
    core = Core(same)
    try:
        first = core.orchestrator
        pid = (await first.call("system.health"))["pid"]
        assert first.core_config["tmux"]["socket"] == private_tmux.socket
        await core.reconfigure({**same, "log": {"level": "info"}})  # nothing it uses changed
        assert core.orchestrator is first
        await core.reconfigure({**same, "log": {"level": "debug"}})  # the sidecar has log.level
        assert core.orchestrator is not first and (await first.status())["state"] == "not started"
        await core.reconfigure({**same, "tmux": {"socket": other.socket}})
        second = core.orchestrator
        assert second.core_config["tmux"]["socket"] == other.socket
        assert (await second.call("system.health"))["pid"] != pid
        agent = await second.call("agent.create", {"type": "custom", "command": "cat"})
        assert agent["pane_id"] in other.run("list-panes", "-a", "-F", "#{pane_id}")
    finally:
        await core.close()
        other.kill()


async def test_log_level_alone_keeps_the_terminal_manager(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    core = Core()
    try:
        manager = await core.terminals()
        await core.reconfigure({"log": {"level": "debug"}})
        assert await core.terminals() is manager
        await core.reconfigure({"tmux": {"binary": "tmux"}, "log": {"level": "debug"}})
        assert await core.terminals() is manager  # tmux.binary is "tmux" already
        await core.reconfigure({"tmux": {"config_file": None}, "terminal": {"backend": "pty"}})
        assert await core.terminals() is not manager
        assert core.config["terminal"]["backend"] == "pty"
    finally:
        await core.close()


async def test_tmux_options_do_not_touch_open_pty_panes(isolated: Path) -> None:
    core = Core({"terminal": {"backend": "pty"}})
    try:
        manager = await core.terminals()
        await manager.new_pane(command="sleep 30")
        await core.reconfigure({"terminal": {"backend": "pty"}, "tmux": {"socket": "elsewhere"}})
        assert await core.terminals() is manager  # tmux options do not apply to pty
        with pytest.raises(ConfigError, match=r"terminal\.backend cannot change while pty panes"):
            await core.reconfigure({"terminal": {"backend": "tmux"}})
        assert core.config["terminal"]["backend"] == "pty"
    finally:
        await core.close()
