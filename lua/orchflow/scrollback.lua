-- :Orchflow pane search: matches in the scrollback of every orchflow pane, in a
-- float; <CR> opens the pane's output.
local M = {}

local host = require("orchflow.host")

function M.search(pattern, opts)
  opts = opts or {}
  host.call("pane.search", { pattern = pattern, literal = opts.literal, pane = opts.pane }, function(err, res)
    if err then
      return host.report(err)
    end
    local lines, rows = {}, {}
    for _, m in ipairs(res.matches) do
      lines[#lines + 1] = ("%-5s %-10s %5d  %s"):format(m.pane_id, m.name, m.line, m.text)
      rows[#lines] = m
    end
    if #lines == 0 then
      lines[1] = ("no match for %q in %d pane(s)"):format(pattern, res.panes)
    end
    local win, buf = require("orchflow.float").open(lines, {
      title = ("scrollback: %s"):format(pattern),
      footer = "<CR> output  q close",
    })
    vim.keymap.set("n", "<CR>", function()
      local m = rows[vim.api.nvim_win_get_cursor(win)[1]]
      if m then
        vim.api.nvim_win_close(win, true)
        require("orchflow.output").open(m.pane_id)
      end
    end, { buffer = buf, nowait = true, desc = "orchflow: open output" })
  end)
end

return M
