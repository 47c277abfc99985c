-- The live output float: a terminal buffer (nvim_open_term) fed with the pane's
-- raw bytes, so colours and cursor movement render as in the pane itself.
-- The host sends what the pane's ring buffer holds, then every new chunk.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")

local views = {} ---@type table<string, { win: integer, buf: integer, chan: integer }>  by watch id

events.on("pane.data", function(ev)
  local v = views[ev.watch]
  if v and vim.api.nvim_buf_is_valid(v.buf) then
    vim.api.nvim_chan_send(v.chan, ev.data)
  end
end)

-- The watch ended (the pane closed, or its terminal manager was rebuilt): the float
-- stays open and says so on its last line.
events.on("pane.data_end", function(ev)
  local v = views[ev.watch]
  views[ev.watch] = nil
  if v and vim.api.nvim_buf_is_valid(v.buf) then
    vim.api.nvim_chan_send(v.chan, ("\r\n[stream ended: %s]\r\n"):format(ev.reason or "the pane's output stopped"))
  end
end)

local function stop(watch)
  local v = views[watch]
  views[watch] = nil
  if v then
    host.call("pane.unwatch", { watch = watch }, function() end)
    pcall(vim.fn.chanclose, v.chan)
  end
end

function M.open(ref)
  host.call("pane.watch", { pane = ref }, function(err, res)
    if err then
      return host.report(err)
    end
    local win, buf = require("orchflow.float").open({}, {
      title = ("output: %s"):format(res.name ~= "" and res.name or res.pane_id),
      footer = "q close",
      filetype = "orchflow-output",
    })
    vim.bo[buf].modifiable = true
    local chan = vim.api.nvim_open_term(buf, {})
    views[res.watch] = { win = win, buf = buf, chan = chan }
    if res.backlog ~= "" then
      vim.api.nvim_chan_send(chan, res.backlog)
    end
    vim.api.nvim_create_autocmd({ "BufWipeout", "BufHidden" }, {
      buffer = buf,
      once = true,
      callback = function()
        stop(res.watch)
      end,
    })
  end)
end

--- Open output floats, by watch id (tests and the dashboard use it).
function M.views()
  return views
end

return M
