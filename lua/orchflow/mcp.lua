-- :Orchflow mcp: orchflow's MCP server (the orchestrator's tools for AI clients), its state,
-- its tools and how to add it to Claude Code, Codex and Gemini CLI (doc/mcp.md).
local M = {}

local host = require("orchflow.host")

M.clients = {
  { key = "claude", title = "Claude Code (run in a shell)" },
  { key = "codex", title = "Codex (~/.codex/config.toml)" },
  { key = "gemini", title = "Gemini CLI (~/.gemini/settings.json)" },
}

local function feature_line(label, f)
  if type(f) ~= "table" then
    return ("%s unknown (the orchestrator is not running)"):format(label)
  end
  if f.status == "implemented" then
    return ("%s implemented"):format(label)
  end
  return ("%s %s: %s"):format(label, f.status or "?", f.reason or "?")
end

--- The float's lines for an mcp.status result.
function M.lines(s)
  local o = type(s.orchestrator) == "table" and s.orchestrator or {}
  local lines = {
    ("orchestrator: %s (%s)"):format(o.state or "?", o.mode or "?"),
    feature_line("server:      ", s.server),
    feature_line("client:      ", s.client),
  }
  if type(s.server) == "table" and s.server.status == "implemented" then
    lines[#lines + 1] = "transports:   " .. table.concat(s.server.transports or {}, ", ")
    local tools = s.server.tools or {}
    lines[#lines + 1] = ("tools (%d):"):format(#tools)
    for i = 1, #tools, 4 do
      lines[#lines + 1] = "  " .. table.concat(vim.list_slice(tools, i, i + 3), "  ")
    end
  elseif o.mode == "embedded" then
    lines[#lines + 1] = "The MCP server is the orchestrator's: setup({ orchestrator = { mode = 'sidecar' } })"
  else
    lines[#lines + 1] = "Start the orchestrator to serve MCP: :Orchflow orchestrator start"
  end
  if s.error then
    lines[#lines + 1] = "error: " .. s.error
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "stdio command: " .. table.concat(s.command or {}, " ")
  for _, c in ipairs(M.clients) do
    lines[#lines + 1] = ""
    lines[#lines + 1] = c.title .. ":"
    for _, l in ipairs(vim.split((s.snippets or {})[c.key] or "", "\n")) do
      lines[#lines + 1] = "  " .. l
    end
  end
  if s.note then
    lines[#lines + 1] = ""
    lines[#lines + 1] = s.note
  end
  return lines
end

function M.show()
  host.call("mcp.status", {}, function(err, s)
    if err then
      return host.report(err)
    end
    require("orchflow.float").open(M.lines(s), { title = "orchflow MCP", footer = "q close", fit = true })
  end)
end

return M
