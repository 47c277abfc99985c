"""The agents float (:Orchflow agent list) with 16 agents: how soon a state change shows in
its row, and how few agent.list reads its throttle makes while events pour in.

A headless Neovim with orchflow in sidecar mode (its host starts the orchestrator); 15
typed agents (``cat`` in panes) and one ACP agent, benchmarks/acp_bench_agent.py (a
scripted stand-in for a paid model).

- state -> row: Lua sends ``agent.prompt {text: "chunks 1"}`` and notes the time; value:
  the float's buffer line of that agent says ``working`` (``nvim_buf_attach`` on_lines);
  floor (same run, same prompt): the ``agent.state`` event handed to Lua by the host,
  before any listener runs — the round trip through the host, orchestrator and agent that
  any view of the state pays. Times are ``vim.uv.hrtime()``.
- throttle: over those rounds and a 400-chunk turn, the agent.list reads the float made
  (its 3 s poll included); floor: the agent.* events it heard (what reading the list
  again on each event would have cost).

    .venv/bin/python -m benchmarks agents_float
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from benchmarks.bench_hooks import _call, _wait
from benchmarks.common import ROOT, Row, median, p95, sidecar_env, spawn_editor

AGENT = [sys.executable, "-I", str(ROOT / "benchmarks" / "acp_bench_agent.py")]
TYPED = 15
ROUNDS = 30
CHUNKS = 400

SETUP = """
_G.calls, _G.events, _G.updates = {}, {}, 0
_G.call = function(key, method, params)
  require('orchflow.host').call(method, params, function(err, res)
    _G.calls[key] = err and { error = tostring(err.message or err) } or { result = res }
  end)
end
local events = require('orchflow.events')
-- the floor: the event as the host hands it to Lua, before any listener runs
local emit = events.emit
events.emit = function(name, ev)
  if name == 'agent.state' then
    _G.events[#_G.events + 1] = { state = ev.state, at = vim.uv.hrtime() }
  end
  return emit(name, ev)
end
for _, name in ipairs({ 'agent.state', 'agent.turn', 'agent.update', 'agent.permission' }) do
  events.on(name, function() _G.updates = _G.updates + 1 end)
end
"""

WATCH = """
local name = ...
local agents = require('orchflow.agents')
local s = agents.stats()
_G.rows = {}
vim.api.nvim_buf_attach(s.buf, false, { on_lines = function(_, b)
  for _, line in ipairs(vim.api.nvim_buf_get_lines(b, 0, -1, false)) do
    if vim.startswith(line, name .. ' ') then
      local state = vim.split(line, '%s+')[4]
      if _G.rows[#_G.rows] == nil or _G.rows[#_G.rows].state ~= state then
        _G.rows[#_G.rows + 1] = { state = state, at = vim.uv.hrtime() }
      end
    end
  end
end })
"""

ROUND = """
local id = ...
_G.events, _G.rows, _G.sent = {}, {}, vim.uv.hrtime()
require('orchflow.host').call('agent.prompt', { id = id, text = 'chunks 1' }, function() end)
"""

RESULT = """
local function first(list, state)
  for _, e in ipairs(list) do
    if e.state == state then return e.at end
  end
end
local ev, row = first(_G.events, 'working'), first(_G.rows, 'working')
local idle = first(_G.rows, 'idle')
if not (ev and row and idle) then return nil end
return { (ev - _G.sent) / 1e9, (row - _G.sent) / 1e9 }
"""


def run() -> list[Row]:
    base, env, socket = sidecar_env(
        "agents-float", f'[agents.bench]\ncommand = {json.dumps(AGENT)}\ntransport = "acp"\n'
    )
    nvim = spawn_editor(env, cwd=base)
    try:
        nvim.exec_lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
        nvim.exec_lua(SETUP)
        agent = _call(nvim, "new", "agent.new", {"type": "ai", "agent": "bench"})
        for i in range(TYPED):
            _call(nvim, f"typed-{i}", "agent.new", {"type": "custom", "command": "cat"})
        _wait(lambda: _call(nvim, f"get-{time.monotonic()}", "agent.get", {"id": agent["id"]})
              ["state"] == "idle")  # fmt: skip
        nvim.exec_lua("require('orchflow.agents').open()")
        _wait(lambda: nvim.exec_lua("return require('orchflow.agents').stats()"))
        rows = _wait(lambda: len(nvim.exec_lua("return vim.api.nvim_buf_get_lines("
                                               "require('orchflow.agents').stats().buf, 0, -1,"
                                               " false)")) >= TYPED + 2)  # fmt: skip
        assert rows
        nvim.exec_lua(WATCH, agent["name"])
        before = nvim.exec_lua("_G.updates = 0 return require('orchflow.agents').stats().fetches")
        event_s, row_s = [], []
        for _ in range(ROUNDS):
            nvim.exec_lua(ROUND, agent["id"])
            got = _wait(lambda: nvim.exec_lua(RESULT), timeout=30)
            event_s.append(got[0])
            row_s.append(got[1])
        nvim.exec_lua("_G.rows = {}")
        nvim.exec_lua(
            "require('orchflow.host').call('agent.prompt', { id = ..., text = ... },"
            " function() end)",
            agent["id"],
            f"chunks {CHUNKS}",
        )
        _wait(lambda: nvim.exec_lua(
            "for _, r in ipairs(_G.rows) do if r.state == 'working' then"
            " return _G.rows[#_G.rows].state == 'idle' end end"
            " return false"), timeout=60)  # fmt: skip
        # the last throttled read, if one was due
        _wait(lambda: not nvim.exec_lua("return require('orchflow.agents').stats().busy"))
        fetches = nvim.exec_lua("return require('orchflow.agents').stats().fetches") - before
        updates = nvim.exec_lua("return _G.updates")
    finally:
        nvim.close()
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
    ms = 1000.0
    floor = "the agent.state event reaching Lua, same prompt"
    return [
        Row(f"agents float ({TYPED + 1} agents): prompt -> row says working (median)",
            median(row_s) * ms, "ms", median(event_s) * ms, floor),
        Row(f"agents float ({TYPED + 1} agents): prompt -> row says working (p95)",
            p95(row_s) * ms, "ms", p95(event_s) * ms, floor),
        Row(f"agents float: agent.list reads over {ROUNDS} turns and a {CHUNKS}-chunk one",
            float(fetches), "calls", float(updates),
            "the agent.* events it heard (a read per event)"),
    ]  # fmt: skip


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
