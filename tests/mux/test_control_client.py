"""ControlModeClient against a real tmux on a private socket."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchflow_core.errors import TmuxUnavailableError
from orchflow_core.mux.control_client import ControlModeClient
from tests.harness.tmux import TmuxServer
from tests.mux.conftest import poll_until


@pytest.fixture
async def client(tmux_server: TmuxServer) -> AsyncIterator[ControlModeClient]:
    c = ControlModeClient(socket=tmux_server.socket, config_file="/dev/null", no_output=True)
    await c.start()
    yield c
    await c.close()


async def test_commands_pipeline_and_reply_in_order(client: ControlModeClient) -> None:
    replies = await client.commands([["display-message", "-p", str(i)] for i in range(50)])
    assert [r.lines for r in replies] == [(str(i),) for i in range(50)]
    bad = await client.command("no-such-command")
    assert not bad.ok and "unknown command: no-such-command" in bad.text


async def test_close_is_idempotent_and_later_calls_fail(tmux_server: TmuxServer) -> None:
    c = ControlModeClient(socket=tmux_server.socket, config_file="/dev/null")
    await c.start()
    await c.close()
    await c.close()
    with pytest.raises(TmuxUnavailableError, match="reconnect"):
        await c.command("display-message", "-p", "x")


# Characters tmux's parser treats specially, plus unicode; newlines and other control
# characters are tested byte-exact through panes (test_tmux.py).
ARG_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(";'\"$#{}~-\\ %!`*?&|<>()[]=")),
        st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, blacklist_categories=["Cs"]),
    ),
    min_size=1,  # set-buffer ignores empty data
    max_size=60,
)


@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(text=ARG_TEXT)
def test_any_argument_reaches_tmux_literally(tmux_server: TmuxServer, text: str) -> None:
    async def check() -> None:
        c = ControlModeClient(socket=tmux_server.socket, config_file="/dev/null", no_output=True)
        await c.start()
        try:
            await c.check("set-buffer", "-b", "quoting-test", "--", text)
            with tempfile.TemporaryDirectory() as tmp:
                # save-buffer writes the raw bytes (show-buffer escapes unusual characters).
                path = os.path.join(tmp, "buf")
                await c.check("save-buffer", "-b", "quoting-test", path)
                assert await asyncio.to_thread(Path(path).read_bytes) == text.encode()
        finally:
            await c.close()

    asyncio.run(check())


async def test_missing_tmux_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    c = ControlModeClient(socket="never-started")
    with pytest.raises(TmuxUnavailableError, match=r"tmux not found: install tmux >= 3.2"):
        await c.start()


async def test_server_death_then_reconnect() -> None:
    server = TmuxServer()
    server.socket = f"orchflow-death-{uuid.uuid4().hex[:8]}"
    c = ControlModeClient(socket=server.socket, config_file="/dev/null", no_output=True)
    try:
        await c.start()
        assert (await c.command("display-message", "-p", "ok")).lines == ("ok",)
        server.kill()
        await poll_until(lambda: not c.alive, timeout=5)
        with pytest.raises(TmuxUnavailableError, match="tmux unavailable"):
            await c.command("display-message", "-p", "x")
        await c.reconnect()
        assert (await c.command("display-message", "-p", "back")).lines == ("back",)
    finally:
        await c.close()
        server.kill()
