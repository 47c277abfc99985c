"""The local executor (orchestrator/executors/local.py) over core's TerminalManager, a real
tmux server and real bash, zsh and fish: output without the prompt, input, live output,
signals, a timeout that kills a process tree, and pooled panes reused."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess

import pytest

from orchestrator.executors.base import Ending, Spec
from orchestrator.executors.local import POOL, LocalExecutor
from orchflow_core.core import Core
from orchflow_core.errors import NotFoundError
from orchflow_core.events import Event
from tests.terminal.test_runs import core_bash, home, shell_core  # noqa: F401 - fixtures


def _cooked(pids: list[int]) -> bool:
    """Whether the terminal of the first of ``pids`` is in canonical mode with CR read as a
    newline: the program has the terminal (fish gives it back after the process exists)."""
    import os
    import termios

    for pid in pids:
        try:
            tty = os.readlink(f"/proc/{pid}/fd/0")
            fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            attrs = termios.tcgetattr(fd)
        finally:
            os.close(fd)
        return bool(attrs[3] & termios.ICANON) and bool(attrs[0] & termios.ICRNL)
    return False


def pgrep(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


async def test_runs_output_input_signals_and_the_pool(
    shell_core: tuple[str, Core],  # noqa: F811 - the fixture
) -> None:
    shell, core = shell_core
    ex = LocalExecutor(core.terminals, kill_grace_s=0.5)
    cwd = str(core.project_root) if hasattr(core, "project_root") else "/tmp"
    assert await ex.warm(cwd, 2) == 2
    # output: what the command printed, without its command line or the prompt after it,
    # also when its last line has no newline
    h = await ex.spawn(Spec(key="t/out", command="echo first-line; printf no-newline", cwd=cwd))
    out = await ex.wait(h, timeout_s=30)
    assert out.ending is Ending.EXITED and out.exit_code == 0, out
    assert out.output.split("\n") == ["first-line", "no-newline"], (shell, out.output)
    assert out.tail == "first-line\nno-newline"
    # a non-zero exit code
    h = await ex.spawn(Spec(key="t/false", command="false", cwd=cwd))
    out = await ex.wait(h, timeout_s=30)
    assert (out.ending, out.exit_code, out.output) == (Ending.EXITED, 1, "")
    # input and live output
    h = await ex.spawn(Spec(key="t/in", command="head -n 1", cwd=cwd))
    assert (await ex.status(h)).state == "running"
    seen = b""

    async def read() -> None:
        nonlocal seen
        async for chunk in ex.stream(h):
            seen += chunk
            if b"typed-input" in re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen):
                return

    reader = asyncio.create_task(read())
    # typed once head runs: keys that arrive while fish still holds the terminal in its raw
    # mode would keep their bare CR, and head would wait for a newline
    async with asyncio.timeout(10):
        while await ex.signal(h, 0) == 0 or not _cooked(pgrep("head -n 1")):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await ex.send(h, "typed-input")
    async with asyncio.timeout(10):
        await reader
    out = await ex.wait(h, timeout_s=30)
    assert out.exit_code == 0 and out.output.count("typed-input") == 2  # echo + head
    # a signal to the command's processes, not to the shell
    h = await ex.spawn(Spec(key="t/sig", command="sleep 31", cwd=cwd))
    async with asyncio.timeout(10):
        while not pgrep("sleep 31"):  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.02)
    assert await ex.signal(h, signal.SIGTERM) >= 1
    out = await ex.wait(h, timeout_s=30)
    assert out.ending is Ending.EXITED and out.exit_code not in (0, None)
    # a timeout kills the process tree
    h = await ex.spawn(Spec(key="t/hang", command="sh -c 'sleep 302 & sleep 303'", cwd=cwd))
    out = await ex.wait(h, timeout_s=0.5)
    assert out.ending is Ending.TIMED_OUT and out.reason is not None
    assert out.reason.startswith("timed out after 0.5 s; killed 3 process(es)")
    assert pgrep("sleep 30[23]") == []
    # every task ran in one of the two warm panes
    assert ex.made == 2 and ex.reused == 5


async def test_idle_pool_panes_close_after_pane_idle_s(
    core_bash: Core,  # noqa: F811 - the fixture
) -> None:
    ex = LocalExecutor(core_bash.terminals, kill_grace_s=0.5, pane_idle_s=0.5)
    tm = await core_bash.terminals()
    cwd = str(core_bash.project_root)
    closed: set[str] = set()
    made: set[str] = set()
    all_closed = asyncio.Event()

    def on_closed(event: Event) -> None:
        closed.add(str(event.data["id"]))
        if made and made <= closed:
            all_closed.set()

    core_bash.events.subscribe(on_closed, kinds=("pane.closed",))
    assert await ex.warm(cwd, 2) == 2
    made.update(r.orchflow_id for r in tm.records(meta_key=POOL))
    assert len(made) == 2
    # a task that runs longer than pane_idle_s keeps its pane: the clock stops while busy
    h = await ex.spawn(Spec(key="t/long", command="sleep 1.5; echo still-here", cwd=cwd))
    assert h.ref in made
    out = await ex.wait(h, timeout_s=30)
    assert (out.ending, out.exit_code, out.output) == (Ending.EXITED, 0, "still-here")
    # then both idle panes are closed: the one that waited, and the task's once it is idle
    async with asyncio.timeout(15):
        await all_closed.wait()
    assert ex.closed_idle == 2 and ex.reused == 1
    await tm.refresh()
    assert tm.records(meta_key=POOL) == []
    assert h.pane_id is not None
    with pytest.raises(NotFoundError):  # gone from tmux too
        await tm.backend.get_pane(h.pane_id)
    await ex.close()
