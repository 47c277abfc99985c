"""Snapshots of the running layout into SQLite, and restore after the tmux server was killed:
real tmux (a private socket), real SQLite, a fresh Core for the restore (as after a reboot)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.events import Event
from orchflow_core.registry import load_methods
from orchflow_core.templates import snapshots
from tests.harness.editor import ROOT
from tests.harness.tmux import TmuxServer

load_methods()
CONF = str(ROOT / "tests" / "tmux.conf")


@pytest.fixture
async def core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    c = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    await c.start()
    yield c
    await c.close()


async def call(core: Core, method: str, params: dict | None = None) -> dict:
    ok, res = await dispatch(core, method, params or {})
    assert ok, res
    return res


SLEEPS = ["sleep 1001", "sleep 1002"]


def _programs(pid: int) -> str:
    """The ``sleep ...`` running below ``pid`` (the pane's shell), as ps shows it, or ""."""
    children: dict[int, list[int]] = {}
    cmd: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    todo, found = [pid], []
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        if cmd.get(p, "").startswith("sleep "):
            found.append(cmd[p])
    return " ".join(sorted(found))


def layout(server: TmuxServer, session: str) -> list[tuple[str, str, str]]:
    """(window name, pane cwd, the sleep running in it) of every pane, in order."""
    out = server.run(
        "list-panes", "-s", "-t", f"={session}:",
        "-F", "#{window_name}\t#{pane_current_path}\t#{pane_pid}",
    )  # fmt: skip
    rows = [line.split("\t") for line in out.splitlines()]
    return [(w, c, _programs(int(pid))) for w, c, pid in rows]


def write_template(tmp_path: Path) -> Path:
    for d in ("api", "web", "docs"):
        (tmp_path / d).mkdir()
    f = tmp_path / "work.yaml"
    f.write_text(
        f"""session_name: work
windows:
  - window_name: servers
    layout: even-horizontal
    panes:
      - start_directory: {tmp_path / "api"}
        shell_command: sleep 1001
      - start_directory: {tmp_path / "web"}
        shell_command: sleep 1002
  - window_name: docs
    start_directory: {tmp_path / "docs"}
    panes:
      - shell_command: echo restored-docs-pane
""",
        encoding="utf-8",
    )
    return f


async def wait_for(predicate, tries: int = 400) -> None:  # type: ignore[no-untyped-def]
    """Poll tmux's (and /proc's) view until ``predicate`` holds: up to ``tries`` x 50 ms."""
    for _ in range(tries):
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {predicate}")


async def test_restore_after_tmux_was_killed(
    core: Core, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    res = await call(core, "template.apply", {"path": str(write_template(tmp_path))})
    assert res["created"] == {"windows": 2, "panes": 3}
    await wait_for(lambda: [p[2] for p in layout(private_tmux, "work")][:2] == SLEEPS)
    before = layout(private_tmux, "work")
    snap = await call(core, "template.snapshot")
    mine = next(s for s in snap["snapshots"] if s["session"] == "work")
    assert (mine["windows"], mine["panes"]) == (2, 3)
    listed = await call(core, "template.snapshots", {"session": "work"})
    assert [s["id"] for s in listed["snapshots"]] == [mine["id"]]
    assert listed["snapshot_minutes"] is None  # off by default

    await core.close()
    private_tmux.kill()  # the server and every pane are gone, as after a reboot
    assert private_tmux.run("list-sessions", check=False) == ""

    fresh = Core({"tmux": {"config_file": CONF}}, project_root=core.project_root)
    await fresh.start()
    try:
        restored = await call(fresh, "template.restore", {})
        one = next(r for r in restored["restored"] if r["session"] == "work")
        assert one["created"] == {"windows": 2, "panes": 3} and one["snapshot"] == mine["id"]
        await wait_for(lambda: layout(private_tmux, "work") == before)
        assert [(w, Path(c).name, p) for w, c, p in layout(private_tmux, "work")] == [
            ("servers", "api", "sleep 1001"),
            ("servers", "web", "sleep 1002"),
            ("docs", "docs", ""),
        ]
        pane = private_tmux.run("list-panes", "-t", "=work:docs", "-F", "#{pane_id}").split()[0]
        await wait_for(
            lambda: "restored-docs-pane" in private_tmux.run("capture-pane", "-p", "-t", pane)
        )
        # restoring again duplicates nothing: the session is there
        again = await call(fresh, "template.restore", {"session": "work"})
        assert again["restored"][0]["created"] == {"windows": 0, "panes": 0}
        assert len(layout(private_tmux, "work")) == 3
    finally:
        await fresh.close()


async def test_snapshots_every_n_minutes_when_configured(
    isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    c = Core(
        {"tmux": {"config_file": CONF}, "templates": {"snapshot_minutes": 0.01}},
        project_root=isolated,
    )
    await c.start()
    try:
        await call(c, "template.apply", {"path": str(write_template(tmp_path))})
        seen: list[Event] = []
        got = asyncio.Event()
        c.events.subscribe(lambda e: (seen.append(e), got.set()), kinds={"template.snapshot"})
        assert snapshots.start(c) is True
        async with asyncio.timeout(30):
            await got.wait()
        listed = await call(c, "template.snapshots", {})
        assert listed["snapshot_minutes"] == 0.01
        assert any(s["session"] == "work" and s["panes"] == 3 for s in listed["snapshots"])
        # the templates module off: no more snapshots are taken (its methods refuse too)
        await call(c, "module.disable", {"name": "templates"})
        ok, err = await dispatch(c, "template.snapshots", {})
        assert not ok and "module 'templates'" in err["message"]
    finally:
        snapshots.stop(c)
        await c.close()


async def test_restore_bad_input_names_it(core: Core) -> None:
    ok, err = await dispatch(core, "template.restore", {})
    assert not ok and err["message"].startswith("no snapshot yet")
    ok, err = await dispatch(core, "template.restore", {"snapshot": 999})
    assert not ok and err["message"] == "no snapshot 999 (see template.snapshots)"
    ok, err = await dispatch(core, "template.restore", {"snapshot": "x"})
    assert not ok and "parameter 'snapshot' must be int" in err["message"]
    ok, err = await dispatch(core, "template.snapshots", {"limit": 0})
    assert not ok and "limit must be 1 to 1000, got 0" in err["message"]
