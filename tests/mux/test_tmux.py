"""TmuxBackend specifics, against a real tmux on this run's private socket."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchflow_core.errors import InvalidArgumentError, TmuxUnavailableError
from orchflow_core.events import Event, EventBus
from orchflow_core.mux.tmux import TmuxBackend
from tests.harness.tmux import TmuxServer
from tests.mux.conftest import TMUX_CONF, poll_until, tmux_backend


@pytest.fixture
async def tmux(mux_tmux: TmuxServer) -> AsyncIterator[tuple[TmuxBackend, str, list[Event]]]:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    backend = tmux_backend(mux_tmux, events=bus, output_event_interval_s=0.01)
    await backend.start()
    name = f"t-{uuid.uuid4().hex[:8]}"
    await backend.create_session(name)
    yield backend, name, events
    try:
        await backend.kill_session(name)
    finally:
        await backend.close()


def tmux_fmt(server: TmuxServer, pane_id: str, fmt: str) -> str:
    return server.run("display-message", "-p", "-t", pane_id, fmt).strip()


async def test_tags_survive_a_new_backend(
    tmux: tuple[TmuxBackend, str, list[Event]], mux_tmux: TmuxServer
) -> None:
    backend, session, events = tmux
    pane = await backend.create_pane(session, name="agent one", pane_type="agent")
    assert tmux_fmt(
        mux_tmux, pane.pane_id, "#{@orchflow_id}|#{@orchflow_type}|#{@orchflow_name}"
    ) == (f"{pane.orchflow_id}|agent|agent one")
    async with tmux_backend(mux_tmux) as other:
        found = [p for p in await other.list_panes(session)]
    assert found == [await backend.get_pane(pane.pane_id)]
    assert [e.kind for e in events if e.kind == "pane.created"] == ["pane.created"]


async def test_resize_and_focus_change_tmux(
    tmux: tuple[TmuxBackend, str, list[Event]], mux_tmux: TmuxServer
) -> None:
    backend, session, _ = tmux
    left = await backend.create_pane(session)
    right = await backend.create_pane(session, split="horizontal", target=left.pane_id)
    await backend.resize_pane(right.pane_id, width=25)
    assert tmux_fmt(mux_tmux, right.pane_id, "#{pane_width}") == "25"
    await backend.focus_pane(left.pane_id)
    assert tmux_fmt(mux_tmux, left.pane_id, "#{pane_active}") == "1"
    await backend.focus_pane(right.pane_id)
    assert tmux_fmt(mux_tmux, left.pane_id, "#{pane_active}") == "0"


async def test_names_are_validated(tmux: tuple[TmuxBackend, str, list[Event]]) -> None:
    backend, session, _ = tmux
    with pytest.raises(InvalidArgumentError, match="a:b"):
        await backend.create_session("a:b")
    with pytest.raises(InvalidArgumentError, match="%1; kill-server"):
        await backend.send_text("%1; kill-server", "x")
    with pytest.raises(InvalidArgumentError, match="BAD-KEY"):
        await backend.create_pane(session, env={"BAD-KEY": "x"})
    with pytest.raises(InvalidArgumentError, match="_orchflow"):
        await backend.kill_session("_orchflow")


async def test_session_names_with_format_characters(
    tmux: tuple[TmuxBackend, str, list[Event]],
) -> None:
    backend, _, _ = tmux
    with pytest.raises(InvalidArgumentError, match=r"'\$HOME'"):
        await backend.create_session("$HOME")
    name = f"#{{pane_id}} ~ ; 'q' \"dq\" {{x}} é {uuid.uuid4().hex[:4]}"
    info = await backend.create_session(name)
    try:
        assert info.name in [s.name for s in await backend.list_sessions()]
        pane = await backend.create_pane(name)
        assert pane.session == name
    finally:
        await backend.kill_session(name)


async def test_events_command_finished_output_and_external_close(
    tmux: tuple[TmuxBackend, str, list[Event]], mux_tmux: TmuxServer
) -> None:
    backend, session, events = tmux
    pane = await backend.create_pane(session)
    handle = await backend.run(pane.pane_id, "seq 1 3000")
    await handle.wait(timeout=10)
    finished = [e.data for e in events if e.kind == "command.finished"]
    assert finished and finished[0]["exit_code"] == 0 and finished[0]["pane_id"] == pane.pane_id
    await asyncio.sleep(0.05)
    outputs = [e.data for e in events if e.kind == "pane.output"]
    # Coalesced: far fewer events than chunks, and counts add up to what was fed since the
    # first event (the shell's first prompt may arrive before the pane is registered).
    first_offset = outputs[0]["total_bytes"] - outputs[0]["bytes"]
    assert sum(o["bytes"] for o in outputs) == outputs[-1]["total_bytes"] - first_offset
    assert sum(o["chunks"] for o in outputs) > len(outputs)
    mux_tmux.run("kill-pane", "-t", pane.pane_id)  # behind orchflow's back
    await poll_until(lambda: any(e.kind == "pane.closed" for e in events), timeout=5)
    closed = [e.data for e in events if e.kind == "pane.closed"]
    assert closed == [{"pane_id": pane.pane_id, "orchflow_id": pane.orchflow_id}]


SHELLS = {
    "bash": "bash --norc --noprofile",
    "zsh": "zsh -f",
    "sh": "sh",
}


@pytest.mark.parametrize("shell", list(SHELLS))
async def test_run_in_each_shell(tmux: tuple[TmuxBackend, str, list[Event]], shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed here (CI installs it: apt-get install -y {shell})")
    backend, session, _ = tmux
    pane = await backend.create_pane(session, command=SHELLS[shell])
    cases = {
        "true": 0,
        "false": 1,
        "exit 42": 42,
        "printf '%s\\n' \"it's\" | grep -q \"'\"": 0,
        "echo a # comment; exit 9": 0,
        "x=1\ntest $x = 1 && exit 5": 5,
    }
    handles = [(await backend.run(pane.pane_id, cmd), code) for cmd, code in cases.items()]
    for handle, code in handles:
        assert (await handle.wait(timeout=10)).exit_code == code, handle.command
    slow = await backend.run(pane.pane_id, "sleep 20")
    await asyncio.sleep(0.3)
    await slow.interrupt()
    assert (await slow.wait(timeout=10)).exit_code == 130
    assert (await (await backend.run(pane.pane_id, "exit 3")).wait(timeout=10)).exit_code == 3


async def test_pending_command_fails_when_pane_closes(
    tmux: tuple[TmuxBackend, str, list[Event]],
) -> None:
    backend, session, _ = tmux
    pane = await backend.create_pane(session)
    handle = await backend.run(pane.pane_id, "sleep 30")
    await backend.close_pane(pane.pane_id)
    with pytest.raises(Exception, match=f"pane {pane.pane_id}"):
        await handle.wait(timeout=5)


# -- byte-exact input --------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=3000)


@pytest.fixture(scope="module")
def raw_sink(
    mux_tmux: TmuxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[asyncio.AbstractEventLoop, TmuxBackend, str, Path]]:
    """A pane whose tty is raw (no echo, no signals, no CR/LF mapping, no ^V/^D meaning:
    `stty raw -echo -iexten`), with `cat` appending every byte it receives to a file."""
    loop = asyncio.new_event_loop()
    backend = tmux_backend(mux_tmux)
    sink = tmp_path_factory.mktemp("raw") / "sink.bin"
    session = f"raw-{uuid.uuid4().hex[:6]}"

    async def setup() -> str:
        await backend.start()
        await backend.create_session(session)
        pane = await backend.create_pane(
            session, command=f"stty raw -echo -iexten && exec cat > {sink}"
        )
        await poll_until(sink.exists)
        return pane.pane_id

    pane_id = loop.run_until_complete(setup())
    yield loop, backend, pane_id, sink
    loop.run_until_complete(backend.kill_session(session))
    loop.run_until_complete(backend.close())
    loop.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXT)
@example(text=("\x00\x01\x03\x04-;'\"$#{}~\\é😀\r\n\x1b[A\x7f " * 4000)[:100_000])
@example(text="-l")
@example(text="--")
def test_send_text_arrives_byte_exact(
    raw_sink: tuple[asyncio.AbstractEventLoop, TmuxBackend, str, Path], text: str
) -> None:
    loop, backend, pane_id, sink = raw_sink
    expected = text.encode()

    async def check() -> None:
        before = sink.stat().st_size
        await backend.send_text(pane_id, text)
        await poll_until(lambda: sink.stat().st_size >= before + len(expected), timeout=20)
        with sink.open("rb") as f:
            f.seek(before)
            assert f.read() == expected

    loop.run_until_complete(check())


# -- server death, missing binary ---------------------------------------------------


async def test_server_death_then_reconnect(tmp_path: Path) -> None:
    server = TmuxServer()
    server.socket = f"orchflow-death-{uuid.uuid4().hex[:8]}"
    conf = tmp_path / "tmux.conf"
    conf.write_text(TMUX_CONF)
    backend = TmuxBackend(socket=server.socket, config_file=str(conf))
    try:
        await backend.start()
        await backend.create_session("w")
        pane = await backend.create_pane("w")
        handle = await backend.run(pane.pane_id, "sleep 30")
        server.kill()
        with pytest.raises(TmuxUnavailableError, match="tmux unavailable"):
            await handle.wait(timeout=5)
        with pytest.raises(TmuxUnavailableError, match="reconnect"):
            await backend.list_sessions()
        await backend.reconnect()  # starts a server again
        await backend.create_session("again")
        assert [s.name for s in await backend.list_sessions()] == ["again"]
    finally:
        await backend.close()
        server.kill()


async def test_missing_tmux_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    backend = TmuxBackend(socket="never-started")
    with pytest.raises(TmuxUnavailableError, match=r"tmux not found: install tmux >= 3.2"):
        await backend.start()
    await backend.close()


def test_socket_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHFLOW_TMUX_SOCKET", "from-env")
    assert TmuxBackend().socket == "from-env"
    assert TmuxBackend(socket="explicit").socket == "explicit"
    monkeypatch.delenv("ORCHFLOW_TMUX_SOCKET")
    assert TmuxBackend().socket is None
    assert os.environ.get("ORCHFLOW_TMUX_SOCKET") is None
