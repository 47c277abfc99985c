-- :Orchflow swarm …: the orchestrator's swarms (task graphs run in parallel in panes).
-- The host forwards swarm.* to the orchestrator. The progress float re-reads the swarm's
-- status once a second while it is open (asynchronously: Neovim is never blocked) and
-- stops once the swarm ended and the float is closed.
local M = {}

local host = require("orchflow.host")

local fmt = require("orchflow.fmt")
local present = fmt.present
local pad = fmt.pad
local age = fmt.age

local with_result = host.with_result
local need = require("orchflow.args").need

local REFRESH_MS = 1000

--- A task's state as a short mark: "✓ 0", "✗ 1", "… run", "↻ retry", "⊘ skip" …
function M.mark(t)
  local s = t.state
  if s == "running" then
    return "… run"
  elseif s == "pending" then
    return "· wait"
  elseif s == "backoff" then
    return "↻ retry"
  elseif s == "succeeded" then
    return "✓ " .. tostring(present(t.exit_code) and t.exit_code or 0)
  elseif s == "failed" then
    return "✗ " .. tostring(present(t.exit_code) and t.exit_code or "!")
  elseif s == "skipped" then
    return "⊘ skip"
  elseif s == "cancelled" then
    return "⊘ cancel"
  end
  return "? " .. tostring(s)
end

--- Where a task runs: its pane, the pooled agent of a prompt task, or (the Ray executor:
--- no pane) the node label.
function M.where(t)
  if present(t.pane_id) then
    return t.pane_id
  end
  if present(t.agent_run) and present(t.agent_run.name) then
    return t.agent_run.name
  end
  return (present(t.host) and t.host ~= "local") and t.host or ""
end

local function last_line(text)
  if not present(text) or text == "" then
    return ""
  end
  local lines = vim.split(text, "\n", { trimempty = true })
  return lines[#lines] or ""
end

--- Lines of the progress float: a header, then a line per task; rows[i] = task on line i.
function M.render(status)
  local done = 0
  for _, t in ipairs(status.tasks) do
    if t.state ~= "pending" and t.state ~= "running" and t.state ~= "backoff" then
      done = done + 1
    end
  end
  local lines = {
    ("%s  %s  %s  %d/%d done%s"):format(
      status.swarm_id,
      status.name,
      status.state,
      done,
      #status.tasks,
      present(status.reason) and ("  " .. status.reason) or ""
    ),
  }
  local rows = {}
  for _, t in ipairs(status.tasks) do
    local when = present(t.finished_at) and t.finished_at or t.started_at
    local detail = present(t.reason) and t.reason or last_line(t.output_tail)
    lines[#lines + 1] = table.concat({
      pad(t.id, 14),
      pad(M.mark(t), 9),
      pad(("#%d"):format(t.attempts or 0), 4),
      pad(present(when) and age(when) or "", 8),
      pad(M.where(t), 5),
      ((detail or ""):gsub("\n", " ")),
    }, " ")
    rows[#lines] = t
  end
  return lines, rows
end

local function newest(cb)
  host.call("swarm.list", { limit = 1 }, with_result(function(swarms)
    if #swarms == 0 then
      return vim.notify("orchflow: no swarms yet: :Orchflow swarm submit {file.json|toml}", vim.log.levels.INFO)
    end
    cb(swarms[1].swarm_id)
  end))
end

--- :Orchflow swarm [id] / :Orchflow swarm show [id]: live progress of a swarm (the newest).
function M.show(args)
  local id = args and args[1]
  if not id or id == "" then
    return newest(function(newest_id)
      M.show({ newest_id })
    end)
  end
  host.call("swarm.status", { swarm_id = id }, with_result(function(status)
    local lines, rows = M.render(status)
    local win, buf = require("orchflow.float").open(lines, {
      title = "orchflow swarm " .. id,
      footer = "<CR> open pane  c cancel  r refresh  q close",
      filetype = "orchflow-swarm",
    })
    local timer = vim.uv.new_timer()
    local busy = false
    local function draw(s)
      if not vim.api.nvim_buf_is_valid(buf) then
        return
      end
      lines, rows = M.render(s)
      vim.bo[buf].modifiable = true
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
      vim.bo[buf].modifiable = false
    end
    local function refresh()
      if busy or not vim.api.nvim_buf_is_valid(buf) then
        return
      end
      busy = true
      host.call("swarm.status", { swarm_id = id }, function(err, s)
        busy = false
        if err then
          return host.report(err)
        end
        draw(s)
      end)
    end
    timer:start(REFRESH_MS, REFRESH_MS, vim.schedule_wrap(refresh))
    vim.api.nvim_create_autocmd("BufWipeout", {
      buffer = buf,
      once = true,
      callback = function()
        timer:stop()
        timer:close()
      end,
    })
    local function map(key, desc, fn)
      vim.keymap.set("n", key, fn, { buffer = buf, nowait = true, desc = "orchflow: " .. desc })
    end
    map("<CR>", "open the task's pane", function()
      local t = rows[vim.api.nvim_win_get_cursor(win)[1]]
      if not t then
        return
      end
      if not present(t.pane_id) then
        return vim.notify("orchflow: task " .. t.id .. " has no pane (" .. t.state .. ")", vim.log.levels.WARN)
      end
      if vim.api.nvim_win_is_valid(win) then
        vim.api.nvim_win_close(win, true)
      end
      require("orchflow.terminal").pane_attach({ t.pane_id })
    end)
    map("c", "cancel the swarm", function()
      vim.notify("orchflow: cancelling swarm " .. id, vim.log.levels.INFO)
      host.call("swarm.cancel", { swarm_id = id }, with_result(draw))
    end)
    map("r", "refresh", refresh)
  end))
end

--- :Orchflow swarm list: the swarms, newest first; <CR> shows one.
function M.list()
  host.call("swarm.list", {}, with_result(function(swarms)
    local lines, rows = {}, {}
    for _, s in ipairs(swarms) do
      local counts = {}
      for state, n in pairs(s.tasks or {}) do
        counts[#counts + 1] = ("%s %d"):format(state, n)
      end
      table.sort(counts)
      lines[#lines + 1] = table.concat({
        pad(s.swarm_id, 14),
        pad(s.state, 10),
        pad(age(s.created_at), 8),
        pad(s.name, 20),
        table.concat(counts, ", "),
      }, " ")
      rows[#lines] = s
    end
    if #lines == 0 then
      lines[1] = "no swarms yet: :Orchflow swarm submit {file.json|toml}"
    end
    local win, buf = require("orchflow.float").open(lines, {
      title = "orchflow swarms",
      footer = "<CR> progress  q close",
      filetype = "orchflow-swarms",
    })
    vim.keymap.set("n", "<CR>", function()
      local s = rows[vim.api.nvim_win_get_cursor(win)[1]]
      if s then
        vim.api.nvim_win_close(win, true)
        M.show({ s.swarm_id })
      end
    end, { buffer = buf, nowait = true, desc = "orchflow: the swarm's progress" })
  end))
end

--- :Orchflow swarm submit {file}: a JSON or TOML file with swarm.submit's params.
function M.submit(args)
  need(args, 1, ":Orchflow swarm submit {file.json|file.toml}")
  local path = vim.fn.fnamemodify(vim.fn.expand(args[1]), ":p")
  host.call("swarm.submit_file", { path = path }, with_result(function(res)
    vim.notify(("orchflow: swarm %s submitted: %d tasks"):format(res.swarm_id, res.tasks), vim.log.levels.INFO)
    M.show({ res.swarm_id })
  end))
end

--- :Orchflow swarm cancel {id}
function M.cancel(args)
  need(args, 1, ":Orchflow swarm cancel {swarm_id}")
  host.call("swarm.cancel", { swarm_id = args[1] }, with_result(function(s)
    vim.notify(("orchflow: swarm %s %s"):format(s.swarm_id, s.state), vim.log.levels.INFO)
  end))
end

--- Completion for {swarm_id}: the orchestrator's swarms, newest first (only when the host runs).
function M.complete_swarms(_, rest)
  if #rest > 0 or not host.running() then
    return {} -- completing never starts the host or a sidecar
  end
  local ok, res = pcall(host.wait, "swarm.list", {}, 500)
  if not ok or type(res) ~= "table" then
    return {}
  end
  local out = {}
  for _, s in ipairs(res) do
    out[#out + 1] = s.swarm_id
  end
  return out
end

--- Completion for {file}: files and directories (JSON and TOML files are what it takes).
function M.complete_files(lead, rest)
  if #rest > 0 then
    return {}
  end
  return vim.tbl_filter(function(f)
    return f:match("/$") or f:match("%.json$") or f:match("%.toml$")
  end, vim.fn.getcompletion(lead, "file"))
end

return M
