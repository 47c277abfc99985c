-- :Orchflow history — commands run through orchflow, most frecent first
-- (history.top), narrowed as the user types (history.search on the host, fuzzy
-- over every distinct command); <CR> re-runs one in a pane the user picks.
local M = {}

local host = require("orchflow.host")
local picker = require("orchflow.picker")

M.LIMIT = 100
M.DEBOUNCE_MS = 15

local function age(ts)
  local s = math.max(0, os.time() - math.floor(ts or 0))
  if s < 60 then
    return s .. "s ago"
  elseif s < 3600 then
    return math.floor(s / 60) .. "m ago"
  elseif s < 86400 then
    return math.floor(s / 3600) .. "h ago"
  end
  return math.floor(s / 86400) .. "d ago"
end

local function present(v)
  return v ~= nil and v ~= vim.NIL
end

local function pad(s, n)
  return s .. string.rep(" ", math.max(0, n - vim.fn.strdisplaywidth(s)))
end

-- Columns: status, runs, last run, [duration, cwd when the host gives them], command.
function M.columns(r)
  local code = r.last_exit_code
  local status, group = "  · ", "OrchflowDim"
  if present(code) then
    status = code == 0 and "✓ 0" or ("✗ " .. code)
    group = code == 0 and "OrchflowOk" or "OrchflowError"
  end
  local cols = { pad(status, 5), pad(("×%d"):format(r.runs or 1), 6), pad(age(r.last_ts), 9) }
  if present(r.last_duration_s) then
    cols[#cols + 1] = pad(("%.1fs"):format(r.last_duration_s), 8)
  end
  if present(r.last_cwd) and r.last_cwd ~= "" then
    cols[#cols + 1] = pad(vim.fn.fnamemodify(r.last_cwd, ":~"), 20)
  end
  local prefix = table.concat(cols, " ") .. " "
  return prefix, group, #cols[1]
end

local function render(r, positions)
  local prefix, group, status_len = M.columns(r)
  local hls = { { 0, status_len, group }, { status_len, #prefix, "OrchflowDim" } }
  for _, p in ipairs(positions or {}) do
    hls[#hls + 1] = { #prefix + p, #prefix + p + 1, "OrchflowMatch" }
  end
  return { { prefix .. r.command, hls } }
end

local function pane_label(p)
  if p.new then
    return "a new shell pane"
  end
  local name = (p.name and p.name ~= "" and p.name ~= p.pane_id) and ("  " .. p.name) or ""
  return ("%s%s  [%s] %s"):format(p.pane_id, name, p.type, p.state)
end

local function run_in(pane_id, command)
  host.call("pane.run", { pane = pane_id, cmd = command }, function(err)
    host.report(err)
  end)
  vim.notify(("orchflow: running %s in %s"):format(command, pane_id))
end

local function run_in_new_pane(command)
  host.call("pane.new", { type = "shell", cwd = vim.fn.getcwd() }, function(err, p)
    if err then
      return host.report(err)
    end
    require("orchflow.terminal").refresh()
    run_in(p.pane_id, command)
  end)
end

--- Re-run `command` in a pane the user picks (or a new shell pane when there is none).
function M.rerun(command)
  require("orchflow.terminal").refresh(function(panes)
    if #panes == 0 then
      return run_in_new_pane(command)
    end
    local choices = vim.list_extend(vim.list_slice(panes), { { new = true } })
    vim.ui.select(choices, { prompt = ("run %s in"):format(command), format_item = pane_label }, function(p)
      if not p then
        return
      elseif p.new then
        run_in_new_pane(command)
      else
        run_in(p.pane_id, command)
      end
    end)
  end)
end

function M.open(_args, _info)
  local p
  p = picker.open({
    title = "history",
    accept_hint = "<CR> run in a pane",
    debounce_ms = M.DEBOUNCE_MS,
    filter = function(query, done)
      local method, params = "history.search", { query = query, limit = M.LIMIT }
      if vim.trim(query) == "" then
        method, params = "history.top", { n = M.LIMIT }
      end
      host.call(method, params, function(err, rows)
        if p.closed then
          return
        end
        if err then
          host.report(err)
          return done({})
        end
        local out = {}
        for n, r in ipairs(rows) do
          local pos = nil
          if vim.trim(query) ~= "" then
            local m = vim.fn.matchfuzzypos({ r.command }, query)
            pos = m[2][1]
          end
          out[n] = { item = r, pos = pos, chars = true }
        end
        done(out)
        p:set_status(vim.trim(query) == "" and "by frecency" or "matches")
      end)
    end,
    text = function(r)
      return r.command
    end,
    render = render,
    on_accept = function(r)
      M.rerun(r.command)
    end,
  })
  return p
end

return M
