-- A short summary for the statusline: require("orchflow.statusline").get()
-- e.g. "⧉ 3 ▶1 ✗1": 3 panes, 1 running, 1 whose last command failed; with AI agents
-- (ACP) "ai 2 ?1": 2 running, 1 waiting for your answer.
local M = {}

local summary = ""

function M.update(panes)
  local running, failed = 0, 0
  for _, p in ipairs(panes) do
    local code = p.exit_code
    if p.state == "running" then
      running = running + 1
    elseif code ~= nil and code ~= vim.NIL and code ~= 0 then -- null: no command ended yet
      failed = failed + 1
    end
  end
  if #panes == 0 then
    summary = ""
    return
  end
  local parts = { ("⧉ %d"):format(#panes) }
  if running > 0 then
    parts[#parts + 1] = ("▶%d"):format(running)
  end
  if failed > 0 then
    parts[#parts + 1] = ("✗%d"):format(failed)
  end
  summary = table.concat(parts, " ")
end

--- The summary string ("" when orchflow has no panes); cheap, safe in 'statusline'.
--- AI agents add "ai N ?Q !E" (running, needing input, failed) once the host runs.
--- The active SPARC mode adds "mode:tdd".
function M.get()
  local ai = package.loaded["orchflow.ai"]
  local modes = package.loaded["orchflow.modes"]
  local out = summary
  for _, part in ipairs({ ai and ai.status() or "", modes and modes.status() or "" }) do
    if part ~= "" then
      out = out == "" and part or (out .. " " .. part)
    end
  end
  return out
end

-- Follow the known panes (orchflow.panes applies the host's events to them).
local panes = require("orchflow.panes")
M.update(panes.list())
panes.on_change(function(what)
  if what == "panes" then
    M.update(panes.list())
  end
end)

return M
