-- Public Lua API. Nothing happens at require time; setup() is optional.
local M = {}

M.version = "0.1.0"

--- Configure orchflow. Deep-merges `opts` over the defaults and validates every
--- field; a bad field raises an error naming it and what is allowed.
function M.setup(opts)
  local config = require("orchflow.config")
  config.setup(opts)
  if config.get().keymaps then
    require("orchflow.commands").define_default_keymaps()
  end
  local host = package.loaded["orchflow.host"] -- never start (or load) the host from setup()
  if host and host.running() then
    -- Options reach a running host at once; a later start sends them on its own.
    host.call("config.set", { overrides = config.core_overrides() })
  end
end

--- Run a :Orchflow subcommand from Lua: require("orchflow").run("pane list").
function M.run(path, args)
  require("orchflow.commands").call(path, args)
end

return M
