-- :Orchflow mcp: orchflow's MCP server (the orchestrator's tools for AI clients), its state,
-- its tools and how to add it to Claude Code, Codex and Gemini CLI (doc/mcp.md); and the MCP
-- servers orchflow is a client of ([mcp.servers.<name>]): state, breaker, tools, with keys
-- to list a server's tools, call one with JSON arguments, or restart it.
local M = {}

local host = require("orchflow.host")
local fmt = require("orchflow.fmt")
local present, pad = fmt.present, fmt.pad

-- Calls that may start a server and wait for it: the host waits up to 95 s for them
-- (a server's start_timeout_s + timeout_s), so this side waits a little longer.
local SLOW = { timeout_s = 100 }

M.clients = {
  { key = "claude", title = "Claude Code (run in a shell)" },
  { key = "claude_project", title = "Claude Code, for one project (.mcp.json at its root)" },
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

--- One line for a server row of mcp.list_servers.
function M.server_line(srv)
  local breaker = type(srv.breaker) == "table" and srv.breaker.state or "-"
  local tools = present(srv.tool_count) and (srv.tool_count .. " tools") or "tools ?"
  if present(srv.tools) and #srv.tools > 0 then
    local names = table.concat(vim.list_slice(srv.tools, 1, 6), " ")
    tools = tools .. ": " .. names .. (#srv.tools > 6 and " …" or "")
  end
  local line = table.concat({
    pad(srv.name, 14),
    pad(srv.kind or "?", 5),
    pad(present(srv.transport) and srv.transport or "?", 11),
    pad(srv.state or "?", 9),
    pad("breaker " .. breaker, 17),
    tools,
  }, " ")
  return line
end

--- The servers section: lines and rows (rows[i] = the server on line i of the section).
function M.server_lines(servers)
  local lines, rows = { "", "MCP servers (t tools  c call  r restart):" }, {}
  if not present(servers) then
    lines[#lines + 1] = "  (known while the orchestrator runs)"
    return lines, rows
  end
  for _, srv in ipairs(servers) do
    lines[#lines + 1] = "  " .. M.server_line(srv)
    rows[#lines] = srv
    if present(srv.last_error) then
      lines[#lines + 1] = "    error: " .. tostring(srv.last_error):gsub("\n", " ")
      rows[#lines] = srv
    end
  end
  if #servers <= 1 then
    lines[#lines + 1] = "  add yours with [mcp.servers.<name>] in config.toml (:help orchflow-mcp-client)"
  end
  return lines, rows
end

--- The float's lines for an mcp.status result, and the server under each line.
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
  local rows = {}
  local section, section_rows = M.server_lines(s.servers)
  for i, l in ipairs(section) do
    lines[#lines + 1] = l
    rows[#lines] = section_rows[i]
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
  return lines, rows
end

--- Lines for a server's tools: name, then its description and arguments (* = required).
function M.tool_lines(res)
  local lines = {}
  for _, t in ipairs(res.tools or {}) do
    local schema = type(t.inputSchema) == "table" and t.inputSchema or {}
    local required = {}
    for _, r in ipairs(present(schema.required) and schema.required or {}) do
      required[r] = true
    end
    local args = {}
    for name, spec in pairs(type(schema.properties) == "table" and schema.properties or {}) do
      local kind = type(spec) == "table" and present(spec.type) and tostring(spec.type) or "any"
      args[#args + 1] = name .. (required[name] and "*" or "") .. ": " .. kind
    end
    table.sort(args)
    lines[#lines + 1] = ("%s(%s)"):format(t.name, table.concat(args, ", "))
    if present(t.description) then
      lines[#lines + 1] = "  " .. tostring(t.description):gsub("\n.*", "")
    end
  end
  if #lines == 0 then
    lines[1] = "(no tools)"
  end
  return lines
end

--- Lines for an mcp.call result: its content blocks, then structuredContent.
function M.result_lines(res)
  local lines = { res.isError and "isError: true (the tool failed)" or "isError: false" }
  for _, c in ipairs(res.content or {}) do
    if c.type == "text" then
      vim.list_extend(lines, vim.split(c.text or "", "\n"))
    else
      lines[#lines + 1] = ("[%s content]"):format(tostring(c.type))
    end
  end
  if present(res.structuredContent) then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "structuredContent: " .. vim.json.encode(res.structuredContent)
  end
  return lines
end

function M.tools(server)
  host.call("mcp.list_tools", { server = server }, host.with_result(function(res)
    require("orchflow.float").open(M.tool_lines(res), {
      title = "MCP " .. server .. " tools",
      footer = "q close",
      fit = true,
    })
  end), SLOW)
end

--- Ask for a tool and its JSON arguments, call it, show the result.
function M.call(server)
  vim.ui.input({ prompt = ("MCP %s tool: "):format(server) }, function(tool)
    if not tool or tool == "" then
      return
    end
    vim.ui.input({ prompt = tool .. " arguments (JSON): ", default = "{}" }, function(text)
      if not text then
        return
      end
      local ok, args = pcall(vim.json.decode, text ~= "" and text or "{}")
      if not ok or type(args) ~= "table" then
        return host.report({ message = ("arguments must be a JSON object, got %q"):format(text) })
      end
      host.call("mcp.call", { server = server, tool = tool, arguments = args }, host.with_result(function(res)
        require("orchflow.float").open(M.result_lines(res), {
          title = ("MCP %s.%s"):format(server, tool),
          footer = "q close",
          fit = true,
        })
      end), SLOW)
    end)
  end)
end

function M.restart(server, done)
  host.call("mcp.restart", { server = server }, host.with_result(function(res)
    vim.notify(("orchflow: MCP server %s %s (%d tools)"):format(res.server, res.state, res.tool_count))
    if done then
      done()
    end
  end), SLOW)
end

function M.show()
  host.call("mcp.status", {}, function(err, s)
    if err then
      return host.report(err)
    end
    local lines, rows = M.lines(s)
    local win, buf = require("orchflow.float").open(lines, {
      title = "orchflow MCP",
      footer = "t tools  c call  r restart  q close",
      fit = true,
    })
    local function map(key, desc, fn)
      vim.keymap.set("n", key, function()
        local srv = rows[vim.api.nvim_win_get_cursor(win)[1]]
        if not srv then
          return vim.notify("orchflow: put the cursor on a server's line", vim.log.levels.WARN)
        end
        fn(srv.name)
      end, { buffer = buf, nowait = true, desc = "orchflow: " .. desc })
    end
    map("t", "the MCP server's tools", M.tools)
    map("c", "call a tool of the MCP server", M.call)
    map("r", "restart the MCP server", function(name)
      M.restart(name, function()
        if vim.api.nvim_win_is_valid(win) then
          vim.api.nvim_win_close(win, true)
        end
        M.show()
      end)
    end)
  end)
end

return M
