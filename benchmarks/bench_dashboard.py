"""The dashboard's cost while a pane prints: host CPU and tmux commands per second.

20 shell panes, one printing `x` every 10 ms. Three windows of WINDOW_S each, in the
same editor and host, repeated REPEATS times:

- floor: the dashboard closed (what the busy pane costs the host on its own: its
  output is read and pane.output events reach Lua);
- old: what the dashboard did before it applied events (lua/orchflow/dashboard.lua up
  to 6889a36): one session.list, one at a time, on every pane.created/closed/state,
  command.finished, pane.output and session.* event; replayed here from Lua;
- new: the dashboard open (`:Orchflow pane list`).

tmux commands are counted inside the host (benchmarks/tmux_counter.py, loaded
through a venv .pth file); CPU is the host process's utime + stime.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Row, isolated_env, median, spawn_editor

CONF = ROOT / "tests" / "tmux.conf"


def _counting_python() -> Path:
    """A venv whose .pth makes the host count its tmux commands (benchmarks/tmux_counter.py):
    the host runs isolated (python -I), so PYTHONPATH would not reach it."""
    from tests.harness.venv import overlay_venv

    dest = Path(tempfile.mkdtemp(prefix="orchflow-bench-hooks-")) / "venv"
    pth = f"{ROOT}\nimport benchmarks.tmux_counter\n"
    return overlay_venv(dest, extra_pth={"orchflow_bench_hooks.pth": pth})


PANES = 20
WINDOW_S = 5.0
REPEATS = 2
BUSY = "while :; do echo x; sleep 0.01; done"

SETUP = """
local n, busy = ...
local host = require('orchflow.host')
local made = {}
for _ = 1, n do
  local pane
  host.call('pane.new', { type = 'shell' }, function(err, p) pane = p or err end)
  vim.wait(10000, function() return pane ~= nil end, 5)
  made[#made + 1] = pane.pane_id
end
local sent
host.call('pane.send', { pane = made[1], text = busy, enter = true }, function(err) sent = true end)
vim.wait(5000, function() return sent end, 5)
return { vim.fn.jobpid(host.channel()), made }
"""

# The old dashboard's listener, as it was: session.list on every event, one in flight.
OLD_START = """
local host, events = require('orchflow.host'), require('orchflow.events')
local pending = false
_G.__old_lists = 0
local function refresh()
  if pending then return end
  pending = true
  _G.__old_lists = _G.__old_lists + 1
  host.call('session.list', {}, function() pending = false end)
end
_G.__old_unsubs = {}
for _, name in ipairs({ 'pane.created', 'pane.closed', 'pane.state', 'command.finished',
  'pane.output', 'session.created', 'session.renamed', 'session.closed' }) do
  table.insert(_G.__old_unsubs, events.on(name, refresh))
end
"""

OLD_STOP = """
for _, unsub in ipairs(_G.__old_unsubs) do unsub() end
return _G.__old_lists
"""

COUNTS = """
local host = require('orchflow.host')
local out
host.call('bench.tmux_commands', {}, function(err, c) out = c or {} end)
vim.wait(5000, function() return out ~= nil end, 2)
return out
"""


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _window(nv: Any, pid: int) -> tuple[float, float, dict[str, int]]:
    """Host CPU % and tmux commands/s over WINDOW_S, and the commands by name."""
    before = nv.exec_lua(COUNTS)
    c0, t0 = _proc_cpu_s(pid), time.perf_counter()
    time.sleep(WINDOW_S)
    c1, t1 = _proc_cpu_s(pid), time.perf_counter()
    after = nv.exec_lua(COUNTS)
    diff = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    diff = {k: v for k, v in diff.items() if v}
    return (c1 - c0) / (t1 - t0) * 100, sum(diff.values()) / (t1 - t0), diff


def _measure(socket: str) -> dict[str, list[tuple[float, float, dict[str, int]]]]:
    env = isolated_env()
    env["ORCHFLOW_TMUX_SOCKET"] = socket
    Path(env["ORCHFLOW_CONFIG"]).write_text(f'[tmux]\nconfig_file = "{CONF}"\n')
    nv = spawn_editor(env)
    nv.exec_lua("require('orchflow').setup({ python = ... })", str(_counting_python()))
    out: dict[str, list[tuple[float, float, dict[str, int]]]] = {
        "floor": [],
        "old": [],
        "new": [],
    }
    try:
        pid, _ = nv.exec_lua(SETUP, PANES, BUSY)
        time.sleep(2.0)  # pane start-up output settles; the busy pane is printing
        for _ in range(REPEATS):
            out["floor"].append(_window(nv, pid))
            nv.exec_lua(OLD_START)
            out["old"].append(_window(nv, pid))
            nv.exec_lua(OLD_STOP)
            time.sleep(0.5)  # a session.list still in flight ends
            nv.command("Orchflow pane list")
            nv.exec_lua("vim.wait(10000, function() return vim.fn.getline(1) ~= 'loading…' end, 5)")
            time.sleep(0.5)
            out["new"].append(_window(nv, pid))
            nv.exec_lua("require('orchflow.dashboard').close()")
            time.sleep(0.5)
    finally:
        nv.close()
    return out


def run() -> list[Row]:
    socket = f"orchflow-bench-{uuid.uuid4().hex[:8]}"
    try:
        m = _measure(socket)
    finally:
        from tests.harness.tmux import kill_socket_processes

        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        time.sleep(0.5)
        kill_socket_processes(socket)

    def cpu(k: str) -> float:
        return median([w[0] for w in m[k]])

    def rate(k: str) -> float:
        return median([w[1] for w in m[k]])

    for name, windows in m.items():  # what the commands were, for the record
        print(f"# dashboard {name}: {[w[2] for w in windows]}", file=sys.stderr)
    closed = "dashboard closed, same load, same run"
    return [
        Row(
            f"dashboard open, {PANES} panes, 1 printing: host CPU",
            cpu("new"),
            "%",
            cpu("floor"),
            closed,
            "<= 5 %",
        ),
        Row("  old dashboard (session.list per event): host CPU", cpu("old"), "%", cpu("floor")),
        Row(
            f"dashboard open: tmux commands/s (closed floor: {rate('floor'):.1f}/s)",
            rate("new"),
            "/s",
            None,
            "",
            "<= 2 /s",
        ),
        Row("  old dashboard (session.list per event): tmux cmds/s", rate("old"), "/s"),
    ]
