-- Runs: every command orchflow ran in a pane, and every command typed in a pane whose shell
-- orchflow started (run.list / run.get / run.wait / run.cancel on the host).
-- :Orchflow run list shows them; a finished run notifies per setup({ runs = { notify } }).
local M = {}

local host = require("orchflow.host")

local fmt = require("orchflow.fmt")
local present = fmt.present
local pad = fmt.pad
local age = fmt.age

local function duration(d)
  if not present(d) then
    return ""
  end
  if d < 10 then
    return ("%.2fs"):format(d)
  elseif d < 120 then
    return ("%.1fs"):format(d)
  end
  return ("%dm%02ds"):format(math.floor(d / 60), math.floor(d % 60))
end

--- "✓ 0", "✗ 2", "… running", "⊘ 130", "? lost", and its highlight group.
function M.status(r)
  if r.state == "running" then
    return "… run", "OrchflowDim"
  elseif r.state == "lost" then
    return "? lost", "OrchflowDim"
  elseif r.state == "cancelled" then
    return "⊘ " .. (present(r.exit_code) and r.exit_code or ""), "OrchflowDim"
  elseif r.exit_code == 0 then
    return "✓ 0", "OrchflowOk"
  end
  return "✗ " .. tostring(present(r.exit_code) and r.exit_code or "?"), "OrchflowError"
end

--- One line of the list: status, duration, age, source, pane, command.
function M.line(r)
  local status = M.status(r)
  local pane = (present(r.pane_name) and r.pane_name ~= "") and r.pane_name or (r.pane_id or "")
  return table.concat({
    pad(status, 7),
    pad(duration(r.duration_s), 8),
    pad(age(r.started_at), 8),
    pad(r.source or "", 6),
    pad(pane, 10),
    ((r.command or ""):gsub("\n", "⏎")),
  }, " ")
end

local function render(runs)
  local lines, hls = {}, {}
  if #runs == 0 then
    lines[1] = "no runs yet: :Orchflow pane run {pane} {cmd}, or type in a pane orchflow started"
  end
  for i, r in ipairs(runs) do
    lines[i] = M.line(r)
    local _, group = M.status(r)
    hls[i] = group
  end
  return lines, hls
end

--- :Orchflow run list [pane]
function M.list(args)
  local params = { limit = 200 }
  if args and args[1] and args[1] ~= "" then
    params.pane = args[1]
  end
  host.call("run.list", params, function(err, runs)
    if err then
      return host.report(err)
    end
    local lines, hls = render(runs)
    local title = params.pane and ("orchflow runs: " .. params.pane) or "orchflow runs"
    local win, buf = require("orchflow.float").open(lines, {
      title = title,
      footer = "<CR> go to pane  x cancel  r run again  q close",
      filetype = "orchflow-runs",
    })
    local ns = vim.api.nvim_create_namespace("orchflow-runs")
    for i, group in pairs(hls) do
      vim.api.nvim_buf_set_extmark(buf, ns, i - 1, 0, { end_col = 7, hl_group = group })
    end
    local function current()
      return runs[vim.api.nvim_win_get_cursor(win)[1]]
    end
    local function close()
      if vim.api.nvim_win_is_valid(win) then
        vim.api.nvim_win_close(win, true)
      end
    end
    local function map(key, desc, fn)
      vim.keymap.set("n", key, function()
        local r = current()
        if r then
          fn(r)
        end
      end, { buffer = buf, nowait = true, desc = "orchflow: " .. desc })
    end
    map("<CR>", "go to the run's pane", function(r)
      close()
      host.call("pane.focus", { pane = r.pane }, host.report)
    end)
    map("x", "cancel the run", function(r)
      if r.state ~= "running" then
        return vim.notify(("orchflow: run %s is %s already"):format(r.id, r.state))
      end
      host.call("run.cancel", { id = r.id }, host.report)
    end)
    map("r", "run the command again in its pane", function(r)
      close()
      require("orchflow.rules").call("pane.run", { pane = r.pane, cmd = r.command })
    end)
  end)
end

--- Whether a finished run is worth a notification under `mode`.
function M.should_notify(r, mode, long_after_s)
  if mode == "never" or r.state == "running" then
    return false
  end
  local failed = r.state == "lost" or (present(r.exit_code) and r.exit_code ~= 0 and r.state ~= "cancelled")
  local long = present(r.duration_s) and r.duration_s >= long_after_s
  if mode == "always" then
    return true
  elseif mode == "long" then
    return long
  elseif mode == "failure" then
    -- A failure of something the user typed is on the screen they typed it in already.
    return failed and r.source ~= "typed"
  end
  return long or (failed and r.source ~= "typed") -- failure_or_long
end

function M.on_finished(r)
  local opts = require("orchflow.config").get().runs
  if not M.should_notify(r, opts.notify, opts.long_after_s) then
    return
  end
  local status = M.status(r)
  local pane = (present(r.pane_name) and r.pane_name ~= "") and r.pane_name or (r.pane_id or "")
  local level = (r.state == "finished" and r.exit_code == 0) and vim.log.levels.INFO or vim.log.levels.WARN
  vim.notify(
    ("orchflow: %s  %s  (%s in %s)"):format(status, r.command, duration(r.duration_s), pane),
    level,
    { title = "orchflow" }
  )
end

local attached = false

--- Listen for finished runs (called when the host starts, never at require time).
function M.attach()
  if attached then
    return
  end
  attached = true
  require("orchflow.events").on("run.finished", M.on_finished)
end

--- Completion for :Orchflow run list {pane}: pane names and ids.
function M.complete_panes(lead)
  return require("orchflow.terminal").complete_panes(lead)
end

return M
