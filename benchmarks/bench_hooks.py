"""Terminal AI agents: a vendor hook -> the "needs input" notice in Neovim; the hook CLI's
cost; 16 idle terminal agents' CPU and memory.

Everything real: a headless Neovim with orchflow in sidecar mode (its host starts the
orchestrator), a private tmux server, terminal agents running the fake Claude Code CLI
(tests/orchestrator/tui/fake_cli.py, a stand-in for the paid-model CLI).

- notice: the bench runs the agent's own PermissionRequest hook command, as Claude Code
  would (``sh -c <command>`` from the agent's --settings file, the hook JSON on stdin), and
  Neovim notes ``vim.uv.hrtime()`` (CLOCK_MONOTONIC, as Python's ``time.monotonic_ns``)
  when ``vim.notify`` shows "needs input". Floor (same run): a bare RPC notification from
  this process to the same Neovim (``nvim_exec_lua`` as a notification) noting the same.
- the hook CLI, spawn to exit with its report delivered; floor: ``python -I -c pass``.
- 16 idle terminal agents: CPU seconds of the orchestrator and of the Neovim plugin host
  over 10 s, and the orchestrator's RSS; floor: the same processes over 10 s with none.

    .venv/bin/python -m benchmarks hooks
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Row, median, p95, sidecar_env, spawn_editor

FAKE = ROOT / "tests" / "orchestrator" / "tui" / "fake_cli.py"
NOTICES = 20
CLI_RUNS = 20
IDLE_AGENTS = 16
CPU_WINDOW_S = 10.0
TICK = os.sysconf("SC_CLK_TCK")

SETUP = """
_G.seen, _G.floor = {}, {}
vim.notify = function(msg)
  if tostring(msg):find('needs input', 1, true) then table.insert(_G.seen, vim.uv.hrtime()) end
end
vim.ui.select = function(items, opts, on_choice) on_choice(nil) end
_G.mark = function() table.insert(_G.floor, vim.uv.hrtime()) end
_G.calls = {}
_G.call = function(key, method, params)
  require('orchflow.host').call(method, params, function(err, res)
    _G.calls[key] = err and { error = tostring(err.message or err) } or { result = res }
  end)
end
"""


def _wait(fn: Any, *, timeout: float = 60.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out waiting for {fn}")


def _call(nvim: Any, key: str, method: str, params: dict[str, Any]) -> Any:
    nvim.exec_lua("_G.call(...)", key, method, params)
    answer = _wait(lambda: nvim.exec_lua("return _G.calls[...]", key))
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[tuple[int, str]]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append((int(proc.name), cmd))
    return out


def _processes(nvim: Any) -> tuple[int, int]:
    """(plugin host pid, orchestrator pid): the host is Neovim's python child, the
    sidecar orchestrator the host's child running ``serve``."""
    nvim_pid = nvim.call("getpid")
    host = _wait(lambda: next((p for p, c in _children(nvim_pid) if "python" in c), None))
    orch = _wait(lambda: next((p for p, c in _children(host) if " serve" in c), None))
    return host, orch


def _cpu_over(pids: tuple[int, int], seconds: float) -> tuple[float, float]:
    before = [_cpu_s(p) for p in pids]
    time.sleep(seconds)
    after = [_cpu_s(p) for p in pids]
    return after[0] - before[0], after[1] - before[1]


def _hook_command(agent: dict[str, Any], event: str) -> str:
    settings = json.loads(Path(agent["hooks"]["files"][0]).read_text())
    return str(settings["hooks"][event][0]["hooks"][0]["command"])


def _state(nvim: Any, agent_id: str, n: int) -> str:
    return str(_call(nvim, f"get-{agent_id}-{n}", "agent.get", {"id": agent_id})["state"])


def _notices(nvim: Any, agent: dict[str, Any]) -> tuple[list[float], list[float]]:
    ask = _hook_command(agent, "PermissionRequest")
    stop = _hook_command(agent, "Stop")
    question = json.dumps(
        {
            "session_id": "bench",
            "transcript_path": "/tmp/bench.jsonl",
            "cwd": str(ROOT),
            "hook_event_name": "PermissionRequest",
            "tool_name": "Bash",
            "tool_input": {"command": "rm -rf build"},
        }
    ).encode()
    values: list[float] = []
    for i in range(NOTICES):
        count = len(nvim.exec_lua("return _G.seen"))
        t0 = time.monotonic_ns()
        subprocess.run(["sh", "-c", ask], input=question, check=True)
        seen = _wait(lambda c=count: (s := nvim.exec_lua("return _G.seen")) and len(s) > c and s)
        values.append((seen[count] - t0) / 1e6)
        subprocess.run(["sh", "-c", stop], input=b"{}", check=True)
        _wait(lambda i=i: _state(nvim, agent["id"], i) == "idle")
    floor: list[float] = []
    for _ in range(NOTICES):
        count = len(nvim.exec_lua("return _G.floor"))
        t0 = time.monotonic_ns()
        nvim.exec_lua("_G.mark()", async_=True)
        marks = _wait(lambda c=count: (s := nvim.exec_lua("return _G.floor")) and len(s) > c and s)
        floor.append((marks[count] - t0) / 1e6)
    return values, floor


def _cli_runs(agent: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The Stop hook (the agent is idle: nothing changes, the report is still made)."""
    stop = _hook_command(agent, "Stop")
    runs, bare = [], []
    for _ in range(CLI_RUNS):
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", stop], input=b"{}", check=True)
        runs.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", f"{sys.executable} -I -c pass"], input=b"{}", check=True)
        bare.append((time.perf_counter() - t0) * 1000)
    return runs, bare


def run() -> list[Row]:
    fake = json.dumps([sys.executable, "-I", str(FAKE), "claude"])
    base, env, socket = sidecar_env(
        "hooks", f'[agents.claude]\ncommand = {fake}\ntransport = "terminal"\n'
    )
    nvim = spawn_editor(env, cwd=base)
    try:
        nvim.exec_lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
        nvim.exec_lua(SETUP)
        _call(nvim, "start", "orchestrator.start", {})
        _call(nvim, "list", "agent.list", {})
        pids = _processes(nvim)
        time.sleep(2.0)  # settled after start-up
        cpu_floor = _cpu_over(pids, CPU_WINDOW_S)
        rss_floor = _rss_mb(pids[1])
        agents = [
            _call(nvim, f"new-{i}", "agent.new", {"type": "ai", "agent": "claude"})
            for i in range(IDLE_AGENTS)
        ]
        for agent in agents:
            _wait(lambda a=agent: _state(nvim, a["id"], -1) == "idle")
        notices, notice_floor = _notices(nvim, agents[0])
        cli, bare = _cli_runs(agents[0])
        time.sleep(2.0)
        assert all(_state(nvim, a["id"], -2) == "idle" for a in agents)
        cpu = _cpu_over(pids, CPU_WINDOW_S)
        rss = _rss_mb(pids[1])
    finally:
        nvim.close()
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
    ms = "ms"
    return [
        Row("hooks: PermissionRequest hook -> notice in Neovim, median", median(notices), ms,
            median(notice_floor), "an RPC notification to Neovim", "<= 300 ms"),
        Row("hooks: PermissionRequest hook -> notice in Neovim, p95", p95(notices), ms,
            p95(notice_floor), "an RPC notification to Neovim"),
        Row("hooks: hook CLI run (spawn, report, exit), median", median(cli), ms,
            median(bare), "python -I -c pass"),
        Row(f"hooks: orchestrator CPU, {IDLE_AGENTS} idle terminal agents, {CPU_WINDOW_S:g} s",
            cpu[1], "s", cpu_floor[1], "the same orchestrator with no agents", "~ 0"),
        Row(f"hooks: plugin host CPU, {IDLE_AGENTS} idle terminal agents, {CPU_WINDOW_S:g} s",
            cpu[0], "s", cpu_floor[0], "the same host with no agents", "~ 0"),
        Row(f"hooks: orchestrator RSS with {IDLE_AGENTS} idle terminal agents", rss, "MB",
            rss_floor, "the same orchestrator before them", "<= 120 MB"),
    ]  # fmt: skip


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
