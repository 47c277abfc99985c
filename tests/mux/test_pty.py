"""PtyBackend against real processes on real pseudo-terminals (no tmux anywhere)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.errors import (
    BackendError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    TimeoutError_,
)
from orchflow_core.events import Event, EventBus
from orchflow_core.mux.backend import MuxBackend
from orchflow_core.mux.keys import Key
from orchflow_core.mux.pty import MarkerScanner, PtyBackend, screen_text
from orchflow_core.mux.pty_process import session_pids
from orchflow_core.mux.shell_integration import MARKER_PREFIX
from orchflow_core.mux.stream import Gap, OutputSubscription

# "exec": the pane's process is bash itself whatever shell runs the -c line (dash forks).
BASH = "exec bash --norc --noprofile"
SHELLS = {
    "bash": BASH,
    "sh": "sh",
    "zsh": "zsh -f",  # -f: no rc files, so no first-run wizard
}
WAIT = 10.0


@pytest.fixture
async def backend() -> AsyncIterator[PtyBackend]:
    b = PtyBackend(events=None, ring_bytes=65536)
    await b.create_session("t")
    yield b
    await b.close()


async def read_until(sub: OutputSubscription, needle: bytes, *, within: float = WAIT) -> bytes:
    """Everything the subscription delivers until ``needle`` has been seen."""
    seen = b""
    async with asyncio.timeout(within):
        async for item in sub:
            assert not isinstance(item, Gap)
            seen += item
            if needle in seen:
                return seen
    raise AssertionError(f"stream ended before {needle!r}; got {seen[-300:]!r}")


async def read_all(sub: OutputSubscription, *, within: float = WAIT) -> bytes:
    """Everything until the pane's output ends."""
    chunks = []
    async with asyncio.timeout(within):
        async for item in sub:
            assert not isinstance(item, Gap), f"lost {item}"
            chunks.append(item)
    return b"".join(chunks)


async def until_running(backend: PtyBackend, pane_id: str, command: str) -> None:
    """Bounded wait until ``command`` runs in the pane's session (no event tells us)."""
    sid = (await backend.get_pane(pane_id)).pid or 0
    for _ in range(int(WAIT / 0.01)):
        if command in map(comm, session_pids(sid)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{command} never ran in {pane_id}")


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


# -- pure parts ----------------------------------------------------------------


def test_marker_scanner_finds_markers_split_anywhere_and_removes_them() -> None:
    token = "ab" * 16
    marker = MARKER_PREFIX + f"{token};130".encode() + b"\x07"
    stream = b"out\x1b[1mput\x1b]0;title\x07" + marker + b"after\x1b" + b"]7 not ours"
    for cut in range(len(stream) + 1):
        scanner = MarkerScanner()
        shown1, found1 = scanner.feed(stream[:cut])
        shown2, found2 = scanner.feed(stream[cut:])
        assert shown1 + shown2 + scanner.flush() == stream.replace(marker, b"")
        assert found1 + found2 == [(token, 130)]


def test_marker_scanner_passes_lookalikes_through() -> None:
    bad = [
        MARKER_PREFIX + b"nothex;1\x07",
        MARKER_PREFIX + b"ab" * 16 + b";x\x07",
        MARKER_PREFIX + b"a" * 200 + b"\x07",
    ]
    for data in bad:
        scanner = MarkerScanner()
        shown, found = scanner.feed(data)
        assert (shown + scanner.flush(), found) == (data, [])
    # A prefix at the very end is held back until the stream says what it is.
    scanner = MarkerScanner()
    assert scanner.feed(b"abc\x1b]77") == (b"abc", [])
    assert scanner.flush() == b"\x1b]77"


def test_screen_text_strips_escapes_and_counts_lines_from_the_screen_top() -> None:
    raw = b"\x1b[?2004hone\r\n\x1b[31mtwo\x1b[0m\r\nthree\x07\r\n$ x\x1b]0;t\x07\r\n \r\n"
    assert screen_text(raw, rows=3) == "one\ntwo\nthree\n$ x"  # no trailing blank lines
    assert screen_text(raw, rows=3, start=0) == "$ x"
    assert screen_text(raw, rows=3, start=-2) == "two\nthree\n$ x"
    assert screen_text(b"partial\nwhole\n", rows=24, cut=True) == "whole"


# -- sessions and panes ----------------------------------------------------------


async def test_satisfies_the_protocol_and_manages_sessions(backend: PtyBackend) -> None:
    assert isinstance(backend, MuxBackend)
    s = await backend.create_session("work")
    assert s.id.startswith("pty:$")
    with pytest.raises(ConflictError, match="'work'"):
        await backend.create_session("work")
    pane = await backend.create_pane("work", command="sleep 30")
    renamed = await backend.rename_session("work", "play")
    assert renamed.id == s.id
    assert (await backend.get_pane(pane.pane_id)).session == "play"
    assert [x.name for x in await backend.list_sessions()] == ["t", "play"]
    await backend.kill_session("play")
    assert [x.name for x in await backend.list_sessions()] == ["t"]
    assert not alive(pane.pid or 0)
    with pytest.raises(NotFoundError, match=pane.pane_id):
        await backend.get_pane(pane.pane_id)


async def test_spawn_list_close_with_events(tmp_path: Path) -> None:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append, kinds=["pane.created", "pane.closed", "pane.exited"])
    backend = PtyBackend(events=bus, ring_bytes=65536)
    try:
        await backend.create_session("s", cwd=str(tmp_path))
        pane = await backend.create_pane(
            "s", name="build", pane_type="test", command="exec sleep 30"
        )
        assert pane.pane_id.startswith("pty:")
        assert len(pane.orchflow_id) == 32
        assert (pane.session, pane.name, pane.pane_type) == ("s", "build", "test")
        assert (pane.cwd, pane.dead, pane.exit_code) == (str(tmp_path), False, None)
        await until_running(backend, pane.pane_id, "sleep")
        assert (await backend.get_pane(pane.pane_id)).command == "sleep"
        assert await backend.list_panes("s") == [await backend.get_pane(pane.pane_id)]
        assert (await backend.get_pane(pane.pane_id)).cwd == str(tmp_path)
        await backend.close_pane(pane.pane_id)
        assert await backend.list_panes() == []
        assert not alive(pane.pid or 0)
    finally:
        await backend.close()
    kinds = [e.kind for e in events]
    assert kinds[0] == "pane.created" and kinds[-1] == "pane.closed"
    assert events[0].data["orchflow_id"] == pane.orchflow_id
    assert events[-1].data == {
        "pane_id": pane.pane_id,
        "orchflow_id": pane.orchflow_id,
        "session": "s",
        "exit_code": 129,  # SIGHUP
    }


async def test_cwd_and_env_reach_the_program(backend: PtyBackend, tmp_path: Path) -> None:
    pane = await backend.create_pane(
        "t",
        cwd=str(tmp_path),
        env={"ORCHFLOW_T": "v a l"},
        command='printf "%s|%s|%s" "$(pwd)" "$ORCHFLOW_T" "$TERM"',
    )
    sub = await backend.subscribe(pane.pane_id)
    assert await read_all(sub) == f"{tmp_path}|v a l|xterm-256color".encode()


async def test_process_exit_marks_pane_dead_with_its_code() -> None:
    bus = EventBus()
    exits: dict[str, asyncio.Future[int]] = {}
    bus.subscribe(
        lambda e: exits[e.data["pane_id"]].set_result(e.data["exit_code"]), kinds=["pane.exited"]
    )
    backend = PtyBackend(events=bus)
    try:
        await backend.create_session("s")
        for command, code, text in (
            ("echo bye; exit 7", 7, "bye"),
            ("no-such-program-orchflow", 127, "not found"),
        ):
            pane = await backend.create_pane("s", command=command)
            exits[pane.pane_id] = asyncio.get_running_loop().create_future()
            assert await asyncio.wait_for(exits[pane.pane_id], WAIT) == code
            info = await backend.get_pane(pane.pane_id)
            assert (info.dead, info.exit_code) == (True, code)
            assert text in await backend.capture(pane.pane_id)
            with pytest.raises(ConflictError, match=f"{pane.pane_id} has exited"):
                await backend.send_text(pane.pane_id, "x")
    finally:
        await backend.close()


async def test_unknown_ids_and_bad_values_are_named(backend: PtyBackend) -> None:
    for call in (
        backend.get_pane("pty:999"),
        backend.send_text("pty:999", "x"),
        backend.send_keys("pty:999", Key.ENTER),
        backend.run("pty:999", "true"),
        backend.subscribe("pty:999"),
        backend.capture("pty:999"),
        backend.resize_pane("pty:999", width=10),
        backend.focus_pane("pty:999"),
        backend.close_pane("pty:999"),
    ):
        with pytest.raises(NotFoundError, match="pty:999"):
            await call
    with pytest.raises(NotFoundError, match="nope"):
        await backend.create_pane("nope")
    with pytest.raises(NotFoundError, match="nope"):
        await backend.list_panes("nope")
    with pytest.raises(InvalidArgumentError, match="/no/such/dir"):
        await backend.create_pane("t", cwd="/no/such/dir")
    pane = await backend.create_pane("t", command="sleep 30")
    with pytest.raises(InvalidArgumentError, match="width 0"):
        await backend.resize_pane(pane.pane_id, width=0)


# -- input -----------------------------------------------------------------------


async def test_send_text_is_byte_exact_through_a_raw_tty(
    backend: PtyBackend, tmp_path: Path
) -> None:
    # Raw mode: no echo, no signals, no CR/NL mapping, no line editing, no 4 KiB line cap.
    text = "".join(chr(c) for c in range(128)) + "é€😀\r\n\x03\x04\x1a" + "x" * 100_000
    size = len(text.encode())
    out = tmp_path / "got"
    pane = await backend.create_pane(
        "t", command=f"stty raw -echo; printf READY; head -c {size} > {out}; printf DONE"
    )
    sub = await backend.subscribe(pane.pane_id)
    await read_until(sub, b"READY")
    await backend.send_text(pane.pane_id, text)
    await read_until(sub, b"DONE")
    assert out.read_bytes() == text.encode()


async def test_send_text_into_a_program_that_does_not_read_times_out_without_blocking() -> None:
    backend = PtyBackend(write_timeout_s=0.5)
    try:
        await backend.create_session("s")
        pane = await backend.create_pane("s", command="stty raw; sleep 30")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        with pytest.raises(TimeoutError_, match=r"took only \d+ of 1000000 bytes"):
            await backend.send_text(pane.pane_id, "y" * 1_000_000)
        ticker.cancel()
        assert ticks > 5  # the loop ran on while the pty was full
    finally:
        await backend.close()


async def test_send_keys_are_what_a_terminal_sends(backend: PtyBackend, tmp_path: Path) -> None:
    out = tmp_path / "keys"
    pane = await backend.create_pane(
        "t", command=f"stty raw -echo; printf READY; head -c 9 > {out}; printf DONE"
    )
    sub = await backend.subscribe(pane.pane_id)
    await read_until(sub, b"READY")
    await backend.send_keys(pane.pane_id, Key.UP, Key.C_C, Key.ENTER, Key.F1, Key.TAB)
    await read_until(sub, b"DONE")
    assert out.read_bytes() == b"\x1b[A\x03\r\x1bOP\t"


# -- commands --------------------------------------------------------------------


@pytest.mark.parametrize("shell", sorted(SHELLS))
async def test_run_reports_exit_codes(backend: PtyBackend, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    pane = await backend.create_pane("t", command=SHELLS[shell])
    sub = await backend.subscribe(pane.pane_id)
    for cmd, code in (("true", 0), ("exit 3", 3), ("echo one # ; false", 0), ("sleep 0 &", 0)):
        handle = await backend.run(pane.pane_id, cmd)
        result = await handle.wait(timeout=WAIT)
        assert result.exit_code == code, cmd
        assert result.duration_s >= 0
    sub.close()
    replay = (await backend.subscribe(pane.pane_id)).get_nowait()
    assert isinstance(replay, bytes)
    assert b"one\r\n" in replay.replace(b"echo one", b"")  # the output, not the echo
    assert MARKER_PREFIX not in replay  # the markers are taken out of the stream


@pytest.mark.parametrize("shell", sorted(SHELLS))
async def test_interrupt_stops_a_sleep(backend: PtyBackend, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    pane = await backend.create_pane("t", command=SHELLS[shell])
    handle = await backend.run(pane.pane_id, "sleep 30")
    await until_running(backend, pane.pane_id, "sleep")
    await handle.interrupt()
    assert (await handle.wait(timeout=WAIT)).exit_code == 130
    after = await backend.run(pane.pane_id, "true")  # the shell still works
    assert (await after.wait(timeout=WAIT)).exit_code == 0


async def test_cancel_stops_waiting_and_exit_fails_the_handle(backend: PtyBackend) -> None:
    pane = await backend.create_pane("t", command=BASH)
    handle = await backend.run(pane.pane_id, "sleep 30")
    handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle.wait(timeout=WAIT)
    # C-c while the shell is still reading typed-ahead input garbles it, as in a terminal.
    await until_running(backend, pane.pane_id, "sleep")
    await backend.send_keys(pane.pane_id, Key.C_C)
    gone = await backend.run(pane.pane_id, "kill -KILL $$")  # $$: the pane's shell
    with pytest.raises(BackendError, match="exited with code 137"):
        await gone.wait(timeout=WAIT)


# -- output ----------------------------------------------------------------------


async def test_streaming_seq_is_byte_exact(backend: PtyBackend) -> None:
    pane = await backend.create_pane("t", command="seq 1 200000")
    sub = await backend.subscribe(pane.pane_id)
    assert sub.start_offset == 0
    got = await read_all(sub, within=30)
    want = "".join(f"{i}\n" for i in range(1, 200001)).encode()
    assert got.replace(b"\r", b"") == want


async def test_resize_is_visible_to_the_program(backend: PtyBackend) -> None:
    pane = await backend.create_pane("t", command=BASH)
    sub = await backend.subscribe(pane.pane_id)
    handle = await backend.run(pane.pane_id, "stty size")
    await handle.wait(timeout=WAIT)
    await backend.resize_pane(pane.pane_id, width=132, height=43)
    handle = await backend.run(pane.pane_id, "stty size")
    await handle.wait(timeout=WAIT)
    seen = await read_until(sub, b"43 132")
    assert b"24 80\r\n" in seen
    lines = (await backend.capture(pane.pane_id)).splitlines()
    assert "24 80" in lines and "43 132" in lines


async def test_capture_of_a_wrapped_ring_starts_at_a_whole_line() -> None:
    backend = PtyBackend(ring_bytes=1000)
    try:
        await backend.create_session("s")
        pane = await backend.create_pane("s", command="seq 1 5000")
        await read_all(await backend.subscribe(pane.pane_id))
        lines = (await backend.capture(pane.pane_id)).splitlines()
        assert lines[-1] == "5000"
        assert lines == [str(n) for n in range(int(lines[0]), 5001)]
        assert (await backend.capture(pane.pane_id, start=-2)).split() == [
            str(n) for n in range(4976, 5001)
        ]  # 2 lines of history + 24 screen rows, the last one the empty line after 5000
    finally:
        await backend.close()


# -- cleanup ---------------------------------------------------------------------


async def test_close_leaves_no_processes_or_fds() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    backend = PtyBackend(close_grace_s=0.3)  # two programs ignore SIGHUP: SIGKILL after 0.3 s
    await backend.create_session("s")
    pids = []
    for _ in range(3):
        pane = await backend.create_pane("s", command=BASH)
        handle = await backend.run(pane.pane_id, "sleep 30 & trap '' HUP")
        await handle.wait(timeout=WAIT)
        assert pane.pid is not None
        pids += session_pids(pane.pid)
    sleeper = await backend.create_pane("s", command="trap '' HUP; sleep 30")
    assert len(pids) == 6  # three shells, three background sleeps
    await backend.close()
    await backend.close()  # idempotent
    assert [p for p in pids if alive(p)] == []
    assert not alive(sleeper.pid or 0)
    assert len(os.listdir("/proc/self/fd")) == fds_before


async def test_bad_environment_is_refused(backend: PtyBackend) -> None:
    with pytest.raises(InvalidArgumentError, match="environment"):
        await backend.create_pane("t", env={"A=B": "x"}, command="true")
