-- Implementations of the :Orchflow subcommands about orchflow itself.
local M = {}

local host = require("orchflow.host")

local report_error = host.report

function M.health()
  vim.cmd("checkhealth orchflow")
end

function M.version()
  local lua_version = require("orchflow").version
  host.call("version", {}, function(err, v)
    if err then
      return report_error(err)
    end
    vim.notify(
      ("orchflow %s (core %s, Python %s at %s, pynvim %s)"):format(
        lua_version,
        v.orchflow_core,
        v.python,
        v.python_executable,
        v.pynvim
      ),
      vim.log.levels.INFO
    )
  end)
end

function M.log()
  host.call("paths", {}, function(err, p)
    if err then
      return report_error(err)
    end
    vim.cmd("edit " .. vim.fn.fnameescape(p.log_file))
  end)
end

function M.config()
  local config = require("orchflow.config")
  host.call("config.get", {}, function(err, res)
    if err then
      return report_error(err)
    end
    -- core options come from the host (it reads config.toml); the rest live in Lua only
    local lua_opts, lines = config.get(), { "# defaults < " .. res.config_file .. " < setup()", "" }
    for _, item in ipairs(config.keys()) do
      local section, key = item.key:match("^([^.]+)%.?(.*)$")
      local source = item.spec.scope == "core" and res.config or lua_opts
      local value = source[section]
      if key ~= "" then
        value = (value or {})[key]
      end
      local shown = (value == nil or value == vim.NIL) and "null"
        or vim.inspect(value, { newline = " ", indent = "" }) -- one line (rules is a list of tables)
      local line = ("%s = %s"):format(item.key, shown)
      local over = type(res.overridden) == "table" and res.overridden[item.key]
      if over then -- the value in effect comes from the environment
        line = ("%s  (%s; configured: %s)"):format(line, over.by, vim.inspect(over.configured))
      end
      lines[#lines + 1] = line
    end
    require("orchflow.float").open(lines, { title = "orchflow config", fit = true })
  end)
end

return M
