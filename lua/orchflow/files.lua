-- :Orchflow files — the project's files (ignore rules respected) ranked by the
-- host's rapidfuzz ranking with frecency as the user types. Each keystroke asks
-- files.list { query } after a short debounce; an answer to an older query is
-- dropped by the picker. Opening a file records it so it ranks higher next time.
local M = {}

local host = require("orchflow.host")
local picker = require("orchflow.picker")

M.LIMIT = 200 -- rows asked per keystroke
M.DEBOUNCE_MS = 15

local function render(f, positions)
  local dir = f.path:match("^(.*/)") or ""
  local hls = { { 0, #dir, "OrchflowDim" } }
  for _, p in ipairs(positions or {}) do
    hls[#hls + 1] = { p, p + 1, "OrchflowMatch" }
  end
  return { { f.path, hls } }
end

--- Open `rel` (relative to `root`) with `how` (edit, split, vsplit, tabedit) and count the open.
function M.open_path(root, rel, how)
  vim.cmd[how or "edit"](vim.fn.fnameescape(root .. "/" .. rel))
  host.call("files.record_open", { path = rel }, function(err)
    host.report(err)
  end)
end

function M.open(_args, _info)
  local root = vim.fn.getcwd()
  local p
  local function opener(how)
    return function(pk)
      local f = pk:selected()
      if f then
        pk:close()
        M.open_path(root, f.path, how)
      end
    end
  end
  p = picker.open({
    title = "files",
    debounce_ms = M.DEBOUNCE_MS,
    filter = function(query, done)
      host.call("files.list", { query = query, limit = M.LIMIT }, function(err, res)
        if p.closed then
          return
        end
        if err then
          host.report(err)
          return done({})
        end
        local out = {}
        for n, f in ipairs(res.files) do
          out[n] = { item = f, pos = f.positions }
        end
        done(out)
        p:set_status(("of %d files"):format(res.total))
      end)
    end,
    text = function(f)
      return f.path
    end,
    render = render,
    preview = function(f, buf, win)
      picker.preview_file(buf, win, root .. "/" .. f.path, 1)
    end,
    on_accept = function(f)
      M.open_path(root, f.path, "edit")
    end,
    keys = {
      { "<C-v>", opener("vsplit"), "vsplit" },
      { "<C-x>", opener("split"), "split" },
      { "<C-t>", opener("tabedit"), "tab" },
    },
  })
  return p
end

return M
