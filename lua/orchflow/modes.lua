-- SPARC modes (orchflow_core/modes on the host): :Orchflow mode [name|off], the modes
-- float, completion of the names and the active mode for the statusline.
local M = {}

local host = require("orchflow.host")
local fmt = require("orchflow.fmt")
local present = fmt.present

local active = nil ---@type string?
local active_context = nil ---@type string[]?
local names = {} ---@type string[]

--- The active mode of this project as the statusline shows it ("mode:tdd"), or "".
function M.status()
  return active and ("mode:" .. active) or ""
end

function M.active()
  return active
end

--- The active mode's default context placeholders (what :Orchflow ask {agent} adds).
function M.active_context()
  return active_context
end

local function set_active(name, mode)
  active = present(name) and name or nil
  if mode ~= nil then
    active_context = present(mode) and mode.context or nil
  elseif not active then
    active_context = nil
  end
  vim.cmd("redrawstatus")
end

local function cwd()
  return vim.fn.getcwd()
end

--- Read the active mode of this project again.
function M.refresh()
  host.call("mode.current", { cwd = cwd() }, function(err, cur)
    if not err and cur then
      set_active(cur.name, cur.mode)
    end
  end)
end

local attached = false

--- Follow mode changes (called when the host starts; the host reads the active mode once
--- its init has answered).
function M.attach()
  if attached then
    return
  end
  attached = true
  require("orchflow.events").on("mode.changed", function(ev)
    if ev.project == vim.fn.resolve(cwd()) or ev.project == cwd() then
      M.refresh()
    end
  end)
end

--- The float's lines for a mode.list answer, and the mode name of each line.
function M.lines(listed)
  local lines, at = {}, {}
  for _, m in ipairs(listed.modes or {}) do
    local types = #m.agent_types > 0 and (" [" .. table.concat(m.agent_types, ", ") .. "]") or ""
    local where = m.source ~= "builtin" and (" (" .. m.source .. ")") or ""
    lines[#lines + 1] = ("%s %s  %s%s%s"):format(m.active and "*" or " ", fmt.pad(m.name, 10), m.description, types, where)
    at[#lines] = m.name
    for i, s in ipairs(m.steps or {}) do
      local kind = present(s.agent_type) and (" (" .. s.agent_type .. ")") or ""
      local desc = present(s.description) and s.description ~= "" and (": " .. s.description) or ""
      lines[#lines + 1] = ("      %d. %s%s%s"):format(i, s.name, desc, kind)
      at[#lines] = m.name
    end
  end
  for _, p in ipairs(listed.problems or {}) do
    lines[#lines + 1] = "! " .. p
  end
  return lines, at
end

local function activate(name, done)
  host.call("mode.activate", { name = name, cwd = cwd() }, function(err, res)
    if err then
      return host.report(err)
    end
    set_active(res.mode.name, res.mode)
    local note = #res.unknown_rules > 0 and (" (unknown rules: " .. table.concat(res.unknown_rules, ", ") .. ")") or ""
    vim.notify(("orchflow: mode %s on%s"):format(res.mode.name, note), vim.log.levels.INFO)
    if done then
      done()
    end
  end)
end

local function deactivate(done)
  host.call("mode.deactivate", { cwd = cwd() }, function(err, res)
    if err then
      return host.report(err)
    end
    set_active(nil, vim.NIL)
    vim.notify(
      res.deactivated and ("orchflow: mode %s off"):format(res.name) or "orchflow: no mode was on",
      vim.log.levels.INFO
    )
    if done then
      done()
    end
  end)
end

local function float(listed)
  local lines, at = M.lines(listed)
  local win, buf = require("orchflow.float").open(lines, {
    title = "orchflow modes" .. (present(listed.active) and (" (" .. listed.active .. ")") or ""),
    footer = "<CR> activate  o off  q close",
    filetype = "orchflow-modes",
    width = 0.95,
  })
  for row = 1, #lines do -- the cursor on the active mode
    if present(listed.active) and at[row] == listed.active then
      vim.api.nvim_win_set_cursor(win, { row, 0 })
      break
    end
  end
  local function close()
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
  end
  local function map(key, desc, fn)
    vim.keymap.set("n", key, fn, { buffer = buf, nowait = true, desc = "orchflow modes: " .. desc })
  end
  map("<CR>", "activate the mode under the cursor", function()
    local name = at[vim.api.nvim_win_get_cursor(win)[1]]
    if name then
      close()
      activate(name)
    end
  end)
  map("o", "turn the mode off", function()
    close()
    deactivate()
  end)
  return win, buf
end

--- :Orchflow mode [name|off]
function M.open(args)
  local name = args and args[1]
  if name == "off" then
    return deactivate()
  end
  if present(name) and name ~= "" then
    return activate(name)
  end
  host.call("mode.list", { cwd = cwd() }, function(err, listed)
    if err then
      return host.report(err)
    end
    names = {}
    for _, m in ipairs(listed.modes) do
      names[#names + 1] = m.name
    end
    for _, m in ipairs(listed.modes) do
      if m.name == listed.active then
        set_active(m.name, m)
      end
    end
    if not present(listed.active) then
      set_active(nil, vim.NIL)
    end
    float(listed)
  end)
end

--- Completion: the mode names (asked of the host, bounded) and "off".
function M.complete(_, rest)
  if #rest > 0 then
    return {}
  end
  if host.running() then
    pcall(function()
      local listed = host.wait("mode.list", { cwd = cwd() }, 300)
      names = {}
      for _, m in ipairs(listed.modes) do
        names[#names + 1] = m.name
      end
    end)
  end
  local out = vim.list_extend({}, names)
  out[#out + 1] = "off"
  return out
end

return M
