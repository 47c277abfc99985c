"""ControlModeClient against a real tmux on a private socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchflow_core.errors import TmuxUnavailableError
from orchflow_core.mux.control_client import ControlModeClient, State
from tests.harness.tmux import TmuxServer
from tests.mux.conftest import poll_until, tmux_backend


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
    assert c.state is State.IDLE
    await asyncio.gather(c.start(), c.start())  # the second waits for the first's attach
    assert c.state is State.OPEN and c.alive
    await c.close()
    await c.close()
    assert c.state is State.CLOSED and not c.alive
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


async def test_cancelled_callers_never_shift_replies_while_a_paste_drains(
    mux_tmux: TmuxServer,
) -> None:
    """Callers cancelled at random points (before, during and after their bytes are
    written) while a multi-MB paste drains: every survivor gets the reply to its own
    command, and the client keeps working (review-wave1 problem #4)."""
    rng = random.Random(4)
    async with tmux_backend(mux_tmux) as backend:
        session = f"paste-{uuid.uuid4().hex[:6]}"
        await backend.create_session(session)
        try:
            # no echo: the pane must not render megabytes; cat just swallows the paste
            pane = await backend.create_pane(session, command="stty -echo; exec cat >/dev/null")
            client = backend._ctl  # the backend's command client: the one send_text uses
            text = ("y" * 99 + "\n") * 40_000  # 4 MB: 16 set-buffer chunks
            for round_no in range(3):
                paste = asyncio.create_task(backend.send_text(pane.pane_id, text))
                await asyncio.sleep(0)  # the paste's bytes are queued and draining

                async def ask(token: str) -> str:
                    reply = await client.command("display-message", "-p", token)
                    return reply.text

                tokens = [f"tok-{round_no}-{i}-{uuid.uuid4().hex[:8]}" for i in range(80)]
                callers = [asyncio.create_task(ask(t)) for t in tokens]
                cancelled: set[int] = set()
                for i in rng.sample(range(len(callers)), 30):
                    # some before they ran at all, some while draining or awaiting a reply
                    for _ in range(rng.randrange(3)):
                        await asyncio.sleep(0)
                    callers[i].cancel()
                    cancelled.add(i)
                assert not paste.done(), "the paste finished before the cancellations"
                results = await asyncio.gather(*callers, return_exceptions=True)
                await paste
                for i, (token, result) in enumerate(zip(tokens, results, strict=True)):
                    if isinstance(result, asyncio.CancelledError):
                        assert i in cancelled
                    else:
                        assert result == token, f"caller {i} got another caller's reply"
                assert len(cancelled) == 30
            after = await client.commands(
                [["display-message", "-p", f"after-{i}"] for i in range(5)]
            )
            assert [r.text for r in after] == [f"after-{i}" for i in range(5)]
            assert client.pending == 0
        finally:
            with contextlib.suppress(Exception):  # must not hide the test's own failure
                await backend.kill_session(session)


async def test_a_caller_cancelled_after_writing_has_its_reply_discarded(
    client: ControlModeClient,
) -> None:
    first = asyncio.create_task(client.command("display-message", "-p", "first"))
    await asyncio.sleep(0)  # written (and maybe draining); not answered yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await client.command("display-message", "-p", "second")).text == "second"
    assert client.pending == 0


async def test_a_batch_refused_while_encoding_registers_nothing(client: ControlModeClient) -> None:
    with pytest.raises(ValueError, match="NUL"):
        await client.commands([["display-message", "-p", "ok"], ["display-message", "-p", "a\0"]])
    assert (await client.command("display-message", "-p", "next")).text == "next"
    assert client.pending == 0
