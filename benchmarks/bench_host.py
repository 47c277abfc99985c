"""The first :Orchflow call (cold: starts the Python host) against a warm one.

Timed inside Neovim with vim.uv.hrtime() from the call to the Lua callback that
receives the answer. The floor is a bare pynvim host started the same way
(jobstart rpc=true) answering its built-in `poll`.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.common import Row, isolated_env, median, p95, spawn_editor

COLD_RUNS = 12
WARM_RUNS = 300

COLD = """
local t0 = vim.uv.hrtime()
local host = require('orchflow.host')
local done
host.call('version', {}, function(err) done = (vim.uv.hrtime() - t0) / 1e6 end)
local blocked = (vim.uv.hrtime() - t0) / 1e6
vim.wait(5000, function() return done ~= nil end, 1)
return { done, blocked }
"""

WARM = """
local n = ...
local host = require('orchflow.host')
local times = {}
for _ = 1, n do
  local t0, done = vim.uv.hrtime(), nil
  host.call('version', {}, function() done = (vim.uv.hrtime() - t0) / 1e6 end)
  vim.wait(2000, function() return done ~= nil end, 0)
  times[#times + 1] = done
end
return times
"""

FLOOR = """
local py = ...
local t0 = vim.uv.hrtime()
local chan = vim.fn.jobstart({ py, '-c', 'import pynvim; pynvim.start_host()' }, { rpc = true })
vim.rpcrequest(chan, 'poll')
local ms = (vim.uv.hrtime() - t0) / 1e6
vim.fn.jobstop(chan)
return ms
"""


def _editor(env: dict[str, str]) -> Any:
    return spawn_editor(env)


def run() -> list[Row]:
    env = isolated_env()
    cold, blocked, floor = [], [], []
    for _ in range(COLD_RUNS):
        nv = _editor(env)
        floor.append(nv.exec_lua(FLOOR, sys.executable))
        nv.close()
        nv = _editor(env)
        done, b = nv.exec_lua(COLD)
        cold.append(done)
        blocked.append(b)
        nv.close()
    nv = _editor(env)
    nv.exec_lua(COLD)
    warm = nv.exec_lua(WARM, WARM_RUNS)
    nv.close()
    f = median(floor)
    return [
        Row(
            "first :Orchflow call, cold (host start)",
            median(cold),
            "ms",
            f,
            "bare pynvim host: jobstart + poll",
            "<= 150 ms",
        ),
        Row("  editor blocked during the cold call", median(blocked), "ms", None, "", "a few ms"),
        Row(
            "warm call, median (Lua -> host -> core -> Lua)",
            median(warm),
            "ms",
            None,
            "",
            "<= 2 ms",
        ),
        Row("warm call, p95", p95(warm), "ms", None, "", ""),
    ]
