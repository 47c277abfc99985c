-- :Orchflow module … : the module system (orchflow_core/modules/, doc/modules.md).
local M = {}

local host = require("orchflow.host")
local need = require("orchflow.args").need

local names = {} -- module names from the last module.list, for completion
local commands = {} -- contributed command names, for completion

local function remember(res)
  names, commands = {}, {}
  for _, m in ipairs(res.modules) do
    table.insert(names, m.name)
  end
  for _, c in ipairs(res.commands) do
    if c.method ~= vim.NIL and c.method ~= nil then
      table.insert(commands, c.name)
    end
  end
end

--- One line per module: state, name, version, kind, source, and its error if any.
local function lines_of(res)
  local lines = {
    ("project %s: %s"):format(res.project, res.trusted and "trusted" or "not trusted (:Orchflow module trust)"),
    ("user modules: %s"):format(res.dirs.user),
    "",
  }
  for _, m in ipairs(res.modules) do
    local v = m.version ~= vim.NIL and m.version or "-"
    local kind = m.kind ~= vim.NIL and m.kind or "-"
    table.insert(lines, ("%-9s %-24s %-8s %-8s %s"):format(m.state, m.name, v, kind, m.source))
    if m.error ~= vim.NIL and m.error then
      table.insert(lines, "          " .. m.error)
    end
  end
  if #res.commands > 0 then
    table.insert(lines, "")
    table.insert(lines, "commands:")
    for _, c in ipairs(res.commands) do
      local how = (c.method ~= vim.NIL and c.method) and (":Orchflow module run " .. c.name) or (":Orchflow " .. c.name)
      table.insert(lines, ("  %-16s %-10s %s"):format(c.name, c.module, how))
    end
  end
  return lines
end

--- :Orchflow module list : a float of every module found and its state
function M.list()
  host.call(
    "module.list",
    { reload = true },
    host.with_result(function(res)
      remember(res)
      require("orchflow.float").open(lines_of(res), { title = "orchflow modules", fit = true })
    end)
  )
end

--- :Orchflow module info {name}
function M.info(args)
  need(args, 1, ":Orchflow module info {name}")
  host.call(
    "module.info",
    { name = table.concat(args, " ") },
    host.with_result(function(m)
      local lines = {
        ("%s %s (%s, %s): %s"):format(m.name, tostring(m.version), tostring(m.kind), m.source, m.state),
        "folder: " .. m.folder,
      }
      if m.description and m.description ~= "" then
        table.insert(lines, m.description)
      end
      if m.error ~= vim.NIL and m.error then
        table.insert(lines, "error: " .. m.error)
      end
      if m.permissions then
        local p = m.permissions
        table.insert(lines, "permissions:")
        table.insert(lines, "  fs: " .. (#p.fs > 0 and table.concat(p.fs, ", ") or "none"))
        table.insert(lines, "  exec: " .. (#p.exec > 0 and table.concat(p.exec, ", ") or "none"))
        table.insert(lines, "  network: " .. (#p.network > 0 and table.concat(p.network, ", ") or "none"))
        table.insert(lines, "contributes:")
        for _, key in ipairs({ "methods", "commands", "config", "agents", "modes", "rules", "templates", "test_adapters" }) do
          local items = m.contributes[key]
          if #items > 0 then
            table.insert(lines, ("  %s: %s"):format(key, table.concat(items, ", ")))
          end
        end
      end
      require("orchflow.float").open(lines, { title = "module " .. m.name, fit = true })
    end)
  )
end

local function set(method, verb)
  return function(args)
    need(args, 1, (":Orchflow module %s {name}"):format(verb))
    host.call(
      method,
      { name = table.concat(args, " ") },
      host.with_result(function(m)
        local level = m.state == verb .. "d" and vim.log.levels.INFO or vim.log.levels.WARN
        local msg = ("orchflow: module %s is %s"):format(m.name, m.state)
        if m.error ~= vim.NIL and m.error then
          msg = msg .. ": " .. m.error
        end
        vim.notify(msg, level)
      end)
    )
  end
end

--- :Orchflow module enable {name} / disable {name}
M.enable = set("module.enable", "enable")
M.disable = set("module.disable", "disable")

--- :Orchflow module trust : load this project's .orchflow/modules/ (the project orchflow
--- opened: its root, which module.list names)
function M.trust()
  host.call(
    "module.trust",
    {},
    host.with_result(function(res)
      local loaded = #res.modules > 0 and table.concat(res.modules, ", ") or "none"
      vim.notify(("orchflow: trusted %s; its modules: %s"):format(res.project, loaded))
    end)
  )
end

--- :Orchflow module untrust
function M.untrust()
  host.call(
    "module.untrust",
    {},
    host.with_result(function(res)
      vim.notify(("orchflow: %s is no longer trusted; its modules are off"):format(res.project))
    end)
  )
end

--- :Orchflow module run {command} [args...] : a command a module contributes
function M.run(args)
  need(args, 1, ":Orchflow module run {command} [args]")
  host.call(
    "module.command",
    { name = args[1], args = vim.list_slice(args, 2) },
    host.with_result(function(res)
      local text = type(res) == "table" and (res.text or vim.inspect(res)) or tostring(res)
      vim.notify(("orchflow: %s: %s"):format(args[1], text))
    end)
  )
end

local function refresh()
  host.call("module.list", {}, function(err, res)
    if not err then
      remember(res)
    end
  end)
end

function M.complete_names(_, rest)
  if #rest > 0 then
    return {}
  end
  refresh()
  return vim.deepcopy(names)
end

function M.complete_commands(_, rest)
  if #rest > 0 then
    return {}
  end
  refresh()
  return vim.deepcopy(commands)
end

return M
