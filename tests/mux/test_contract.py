"""Behaviour every MuxBackend must show. Uses only the protocol (runs per backend)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.mux.backend import MuxBackend, PaneInfo
from orchflow_core.mux.keys import Key
from orchflow_core.mux.stream import Gap, OutputSubscription


async def read_until(
    sub: OutputSubscription,
    needle: bytes,
    *,
    count: int = 1,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> bytes:
    """Everything received until ``needle`` showed up ``count`` times (bounded)."""
    got = bytearray()
    seen = 0
    async with asyncio.timeout(timeout):
        async for item in sub:
            assert not isinstance(item, Gap), f"unexpected gap of {item.dropped_bytes} bytes"
            start = max(0, len(got) - len(needle) + 1)  # only look at the new bytes
            got += item
            seen += got.count(needle, start)
            if seen >= count:
                return bytes(got)
    raise AssertionError(f"stream ended before {needle!r}; got {bytes(got[-300:])!r}")


def drain(sub: OutputSubscription) -> list[bytes | Gap]:
    items: list[bytes | Gap] = []
    while (item := sub.get_nowait()) is not None:
        items.append(item)
    return items


async def wait_for_pane(
    backend: MuxBackend,
    pane_id: str,
    pred: object,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> PaneInfo:
    async with asyncio.timeout(timeout):
        while True:
            info = await backend.get_pane(pane_id)
            if pred(info):  # type: ignore[operator]
                return info
            await asyncio.sleep(0.02)


async def test_session_crud(backend: MuxBackend, session: str) -> None:
    assert session in [s.name for s in await backend.list_sessions()]
    with pytest.raises(ConflictError, match=session):
        await backend.create_session(session)
    renamed = await backend.rename_session(session, session + "-x")
    assert renamed.name == session + "-x"
    names = [s.name for s in await backend.list_sessions()]
    assert session + "-x" in names and session not in names
    await backend.rename_session(session + "-x", session)
    await backend.kill_session(session)
    assert session not in [s.name for s in await backend.list_sessions()]
    with pytest.raises(NotFoundError, match=session):
        await backend.kill_session(session)
    with pytest.raises(NotFoundError, match="no-such-session"):
        await backend.create_pane("no-such-session")


async def test_pane_create_with_name_type_cwd_env(
    backend: MuxBackend, session: str, tmp_path: Path
) -> None:
    pane = await backend.create_pane(
        session, name="builder", pane_type="test", cwd=str(tmp_path), env={"OF_VAR": "a b;c"}
    )
    assert (pane.name, pane.pane_type, pane.session) == ("builder", "test", session)
    assert pane.orchflow_id and not pane.dead
    assert [p.pane_id for p in await backend.list_panes(session)] == [pane.pane_id]
    assert pane.pane_id in [p.pane_id for p in await backend.list_panes()]
    result = await (
        await backend.run(pane.pane_id, 'printf \'%s|%s\\n\' "$OF_VAR" "$PWD" > out.txt')
    ).wait(timeout=10)
    assert result.exit_code == 0
    assert (tmp_path / "out.txt").read_text() == f"a b;c|{tmp_path}\n"
    await backend.close_pane(pane.pane_id)
    assert await backend.list_panes(session) == []
    with pytest.raises(NotFoundError, match=pane.pane_id):
        await backend.close_pane(pane.pane_id)


async def test_pane_command_exit_code_is_kept(backend: MuxBackend, session: str) -> None:
    pane = await backend.create_pane(session, command="sh -c 'echo bye; exit 7'")
    # tmux marks the pane dead at EOF and learns the status a moment later.
    info = await wait_for_pane(backend, pane.pane_id, lambda p: p.dead and p.exit_code is not None)
    assert info.exit_code == 7
    assert "bye" in await backend.capture(pane.pane_id)


async def test_splits_resize_focus(backend: MuxBackend, session: str) -> None:
    first = await backend.create_pane(session)
    right = await backend.create_pane(session, split="horizontal", target=first.pane_id)
    below = await backend.create_pane(session, split="vertical", target=right.pane_id)
    assert {p.pane_id for p in await backend.list_panes(session)} == {
        first.pane_id,
        right.pane_id,
        below.pane_id,
    }
    await backend.resize_pane(right.pane_id, width=30, height=8)
    await backend.focus_pane(below.pane_id)
    with pytest.raises(InvalidArgumentError, match="width"):
        await backend.resize_pane(right.pane_id, width=0)
    with pytest.raises(InvalidArgumentError, match="diagonal"):
        await backend.create_pane(session, split="diagonal")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda b, p: b.send_text(p, "x"),
        lambda b, p: b.send_keys(p, Key.ENTER),
        lambda b, p: b.run(p, "true"),
        lambda b, p: b.subscribe(p),
        lambda b, p: b.capture(p),
        lambda b, p: b.close_pane(p),
        lambda b, p: b.resize_pane(p, width=10),
        lambda b, p: b.focus_pane(p),
        lambda b, p: b.get_pane(p),
    ],
)
async def test_unknown_pane_is_named_in_the_error(backend: MuxBackend, call: object) -> None:
    with pytest.raises((NotFoundError, InvalidArgumentError), match="%987654"):
        await call(backend, "%987654")  # type: ignore[operator]


async def test_run_exit_codes_and_interrupt(backend: MuxBackend, session: str) -> None:
    pane = await backend.create_pane(session)
    ok = await backend.run(pane.pane_id, "true")
    fail = await backend.run(pane.pane_id, "echo 'it''s'; exit 3")  # queued behind the first
    assert (await ok.wait(timeout=10)).exit_code == 0
    assert (await fail.wait(timeout=10)).exit_code == 3
    slow = await backend.run(pane.pane_id, "sleep 30")
    await asyncio.sleep(0.3)
    assert not slow.done()
    await slow.interrupt()
    assert (await slow.wait(timeout=10)).exit_code == 130
    # The shell is still usable afterwards.
    assert (await (await backend.run(pane.pane_id, "exit 0")).wait(timeout=10)).exit_code == 0


async def test_cancel_stops_tracking(backend: MuxBackend, session: str) -> None:
    pane = await backend.create_pane(session)
    handle = await backend.run(pane.pane_id, "sleep 0.2")
    handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle.wait(timeout=5)


async def test_send_text_reaches_the_program(backend: MuxBackend, session: str) -> None:
    pane = await backend.create_pane(session, command="cat")
    sub = await backend.subscribe(pane.pane_id)
    await backend.send_text(pane.pane_id, "-n; echo $HOME 'q' \"dq\" {x} # é😀\n")
    line = "-n; echo $HOME 'q' \"dq\" {x} # é😀\r\n".encode()
    got = await read_until(sub, line, count=2)  # the tty's echo, then cat's copy
    assert got.count(line) == 2
    await backend.send_keys(pane.pane_id, Key.C_D)
    info = await wait_for_pane(backend, pane.pane_id, lambda p: p.dead and p.exit_code is not None)
    assert info.exit_code == 0


async def test_streams_seq_output_byte_exact(backend: MuxBackend, session: str) -> None:
    pane = await backend.create_pane(session)
    sub = await backend.subscribe(pane.pane_id, max_queue=1_000_000)
    # printf's %s keeps the markers out of the echoed command line.
    handle = await backend.run(
        pane.pane_id, "printf 'BE%sIN\\n' G; seq 1 200000; printf 'E%sD\\n' N"
    )
    got = await read_until(sub, b"END\r\n", timeout=30)
    assert (await handle.wait(timeout=10)).exit_code == 0
    body = got[got.index(b"BEGIN\r\n") + 7 : got.index(b"END\r\n")]
    assert body == "".join(f"{i}\r\n" for i in range(1, 200001)).encode()


async def test_slow_subscriber_gets_gap_and_fast_one_does_not(
    backend: MuxBackend, session: str
) -> None:
    pane = await backend.create_pane(session)
    fast = await backend.subscribe(pane.pane_id, max_queue=1_000_000)
    slow = await backend.subscribe(pane.pane_id, max_queue=2)
    handle = await backend.run(pane.pane_id, "seq 1 20000; printf 'DONE\\n'")
    fast_bytes = await read_until(fast, b"DONE\r\n", timeout=30)
    await handle.wait(timeout=10)
    await asyncio.sleep(0.1)
    fast_bytes += b"".join(i for i in drain(fast) if isinstance(i, bytes))
    items = drain(slow)
    gaps = [i for i in items if isinstance(i, Gap)]
    assert gaps and len(items) <= 3
    accounted = sum(len(i) if isinstance(i, bytes) else i.dropped_bytes for i in items)
    assert slow.start_offset + accounted == fast.start_offset + len(fast_bytes)
    fast.close()
    slow.close()


async def test_late_subscriber_sees_buffered_output(backend: MuxBackend, session: str) -> None:
    pane = await backend.create_pane(session)
    await (await backend.run(pane.pane_id, "echo early-$((6*7))")).wait(timeout=10)
    sub = await backend.subscribe(pane.pane_id)
    first = await asyncio.wait_for(anext(sub), 5)
    assert isinstance(first, bytes) and b"early-42" in first
    sub.close()
    assert "early-42" in await backend.capture(pane.pane_id)


async def test_close_is_idempotent(backend: MuxBackend) -> None:
    await backend.close()
    await backend.close()
