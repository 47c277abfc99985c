-- :Orchflow schedule … and :Orchflow locks: the orchestrator's scheduler and resource locks.
-- The host forwards schedule.* and lock.list to the orchestrator; in embedded mode the
-- answer says the orchestrator is off and how to turn it on, and that is what the user sees.
local M = {}

local host = require("orchflow.host")

local fmt = require("orchflow.fmt")
local present = fmt.present
local pad = fmt.pad

local with_result = host.with_result

local need = require("orchflow.args").need

--- "13:05 (Mon 30)" from an ISO time "2026-11-30T13:05:00+01:00", or the text as it is.
local function short_time(iso)
  local y, mo, d, h, mi, off = tostring(iso):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):%d+(.*)$")
  if not y then
    return tostring(iso)
  end
  return ("%s-%s-%s %s:%s%s"):format(y, mo, d, h, mi, off ~= "" and off or "")
end

--- The state of a firing as a short mark: "✓ 0", "✗ 2", "… run", "⊘ skip", "! error".
function M.firing_status(f)
  if not present(f) then
    return "never"
  end
  if f.state == "running" then
    return "… run"
  elseif f.state == "queued" then
    return "… queued"
  elseif f.state == "skipped" then
    return "⊘ skip"
  elseif f.state == "error" or f.state == "lost" then
    return "! " .. f.state
  elseif f.state == "cancelled" then
    return "⊘ " .. tostring(present(f.exit_code) and f.exit_code or "")
  elseif f.exit_code == 0 then
    return "✓ 0"
  end
  return "✗ " .. tostring(present(f.exit_code) and f.exit_code or "?")
end

--- Lines for the schedule list: a header line per schedule, then its next runs.
function M.render(schedules)
  local lines, rows = {}, {} -- rows[i] = the schedule on line i
  if #schedules == 0 then
    lines[1] = "no schedules: :Orchflow schedule add {name} {cron} {cmd}"
  end
  for _, s in ipairs(schedules) do
    local last = M.firing_status(s.last)
    lines[#lines + 1] = table.concat({
      pad(s.name, 16),
      pad(s.cron, 14),
      pad(s.tz, 16),
      pad("last " .. last, 14),
      s.job.command,
    }, " ")
    rows[#lines] = s
    local next_runs = {}
    for _, t in ipairs(s.next_runs or {}) do
      next_runs[#next_runs + 1] = short_time(t)
    end
    lines[#lines + 1] = "  next: " .. table.concat(next_runs, ", ")
    rows[#lines] = s
  end
  return lines, rows
end

--- :Orchflow schedule list: schedules with their next three runs; keys act on the one
--- under the cursor.
function M.schedule_list()
  host.call("schedule.list", {}, with_result(function(schedules)
    local lines, rows = M.render(schedules)
    local win, buf = require("orchflow.float").open(lines, {
      title = "orchflow schedules",
      footer = "r run now  h history  d remove  q close",
      filetype = "orchflow-schedules",
    })
    local function map(key, desc, fn)
      vim.keymap.set("n", key, function()
        local s = rows[vim.api.nvim_win_get_cursor(win)[1]]
        if s then
          fn(s)
        end
      end, { buffer = buf, nowait = true, desc = "orchflow: " .. desc })
    end
    map("r", "run the schedule now", function(s)
      M.run_now({ s.name })
    end)
    map("h", "the schedule's firings", function(s)
      M.history({ s.name })
    end)
    map("d", "remove the schedule", function(s)
      if vim.api.nvim_win_is_valid(win) then
        vim.api.nvim_win_close(win, true)
      end
      M.remove({ s.name })
    end)
  end))
end

--- :Orchflow schedule add {name} {cron} {cmd}: {cron} is five fields or one @alias;
--- {cmd} is the rest of the line, as typed.
function M.schedule_add(args, info)
  need(args, 3, ":Orchflow schedule add {name} {cron: 5 fields or @daily…} {cmd}")
  local split = require("orchflow.args").split
  local words, rest = split(require("orchflow.args").rest(args, info), 1)
  local name = words[1]
  local cron_words, command
  if rest:match("^[ \t]*@") then
    cron_words, command = split(rest, 1)
  else
    cron_words, command = split(rest, 5)
    if #cron_words < 5 or command == "" then
      error(
        "usage: :Orchflow schedule add {name} {minute hour day month weekday} {cmd} (e.g. nightly 30 2 * * * make test)",
        0
      )
    end
  end
  if command == "" then
    error("usage: :Orchflow schedule add {name} {cron} {cmd}: the command is missing", 0)
  end
  local params = {
    name = name,
    cron = table.concat(cron_words, " "),
    job = { command = command, cwd = vim.fn.getcwd() },
  }
  host.call("schedule.add", params, with_result(function(s)
    vim.notify(
      ("orchflow: schedule %s (%s, %s): next %s"):format(s.name, s.cron, s.tz, short_time(s.next_runs[1] or "never")),
      vim.log.levels.INFO
    )
  end))
end

function M.remove(args)
  need(args, 1, ":Orchflow schedule remove {name}")
  host.call("schedule.remove", { name = args[1] }, with_result(function(r)
    vim.notify("orchflow: schedule " .. r.name .. " removed", vim.log.levels.INFO)
  end))
end

function M.run_now(args)
  need(args, 1, ":Orchflow schedule run {name}")
  host.call("schedule.run_now", { name = args[1] }, with_result(function(f)
    local where = present(f.pane_id) and (" in pane " .. f.pane_id) or ""
    vim.notify(("orchflow: schedule %s %s%s (run %s)"):format(f.schedule, f.state, where, tostring(f.run_id)), vim.log.levels.INFO)
  end))
end

function M.history(args)
  need(args, 1, ":Orchflow schedule history {name}")
  host.call("schedule.history", { name = args[1] }, with_result(function(firings)
    local lines = {}
    for _, f in ipairs(firings) do
      lines[#lines + 1] = table.concat({
        pad(M.firing_status(f), 10),
        pad(short_time(f.due), 24),
        pad(present(f.run_id) and f.run_id or "", 22),
        present(f.reason) and f.reason or "",
      }, " ")
    end
    if #lines == 0 then
      lines[1] = "no firings yet: :Orchflow schedule run " .. args[1]
    end
    require("orchflow.float").open(lines, { title = "schedule: " .. args[1], footer = "q close" })
  end))
end

--- Completion for {name}: the schedules the orchestrator has (only when it is running).
function M.complete_schedules(_, rest)
  if #rest > 0 then
    return {}
  end
  if not host.running() then
    return {} -- completing never starts the host or a sidecar
  end
  local ok, res = pcall(host.wait, "schedule.list", {}, 500)
  if not ok or type(res) ~= "table" then
    return {}
  end
  local out = {}
  for _, s in ipairs(res) do
    out[#out + 1] = s.name
  end
  return out
end

--- :Orchflow locks: the resource locks held and the requests waiting.
function M.locks()
  host.call("lock.list", {}, with_result(function(res)
    local lines = {}
    local now = os.time()
    for _, l in ipairs(res.locks or {}) do
      lines[#lines + 1] = table.concat({
        pad(l.resource, 24),
        pad(l.mode, 10),
        pad(l.owner, 16),
        ("expires in %ds"):format(math.max(0, math.floor(l.expires_at - now)))
          .. (l.restored and " (restored)" or ""),
      }, " ")
    end
    for _, w in ipairs(res.waiting or {}) do
      lines[#lines + 1] = table.concat({
        pad(w.resource, 24),
        pad(w.mode, 10),
        pad(w.owner, 16),
        ("waiting %ds"):format(math.max(0, math.floor(now - w.since))),
      }, " ")
    end
    if #lines == 0 then
      lines[1] = "no locks held and nobody waiting"
    end
    require("orchflow.float").open(lines, { title = "orchflow locks", footer = "q close", fit = true })
  end))
end

return M
