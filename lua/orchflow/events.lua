-- Events pushed from orchflow_core (pane created, output, command finished ...).
-- Lua listeners subscribe with on(); every event is also a User autocmd
-- "Orchflow:<name>" with the payload in `data`, for users' own autocmds.
local M = {}

local listeners = {} ---@type table<string, table<integer, fun(data: any)>>
local next_id = 0

--- Subscribe to `name` ("*" for all); returns a function that unsubscribes.
function M.on(name, fn)
  next_id = next_id + 1
  local id = next_id
  listeners[name] = listeners[name] or {}
  listeners[name][id] = fn
  return function()
    listeners[name][id] = nil
  end
end

function M.emit(name, data)
  for _, group in ipairs({ listeners[name] or {}, listeners["*"] or {} }) do
    for _, fn in pairs(group) do
      local ok, err = pcall(fn, data, name)
      if not ok then
        vim.notify(("orchflow: listener for %s failed: %s"):format(name, err), vim.log.levels.WARN)
      end
    end
  end
  vim.api.nvim_exec_autocmds("User", { pattern = "Orchflow:" .. name, data = data, modeline = false })
end

return M
