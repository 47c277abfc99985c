-- :Orchflow history — commands run through orchflow, most frecent first
-- (history.top), narrowed as the user types (history.search on the host, fuzzy
-- over every distinct command); <CR> re-runs one in a pane the user picks.
local M = {}

local host = require("orchflow.host")
local picker = require("orchflow.picker")

M.LIMIT = 100
M.DEBOUNCE_MS = 15

local fmt = require("orchflow.fmt")
local present = fmt.present
local pad = fmt.pad
local age = fmt.age

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
  require("orchflow.rules").call("pane.run", { pane = pane_id, cmd = command })
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

-- :Orchflow history import {file} [format] | export {file} | prune {days}
local admin = {
  import = function(args)
    if not args[1] then
      error("usage: :Orchflow history import {file} [auto|bash|zsh|fish|json]", 0)
    end
    host.call("history.import", { path = vim.fn.expand(args[1]), format = args[2] }, function(err, r)
      if err then
        return host.report(err)
      end
      vim.notify(
        ("orchflow: imported %d command(s) from %s history, skipped %d malformed, %d already there"):format(
          r.imported, r.format, r.skipped, r.duplicates or 0
        ),
        vim.log.levels.INFO
      )
    end)
  end,
  export = function(args)
    if not args[1] then
      error("usage: :Orchflow history export {file.json}", 0)
    end
    host.call("history.export", { path = vim.fn.expand(args[1]) }, function(err, r)
      if err then
        return host.report(err)
      end
      vim.notify(("orchflow: exported %d command(s) to %s"):format(r.exported, r.path), vim.log.levels.INFO)
    end)
  end,
  prune = function(args)
    local days = tonumber(args[1] or "")
    if not days or days < 0 then
      error("usage: :Orchflow history prune {days}  (removes entries older than that)", 0)
    end
    host.call("history.prune", { older_than_days = days }, function(err, r)
      if err then
        return host.report(err)
      end
      vim.notify(("orchflow: removed %d history entr%s older than %s days"):format(
        r.removed, r.removed == 1 and "y" or "ies", args[1]), vim.log.levels.INFO)
    end)
  end,
}

function M.complete(arglead, rest)
  if #rest == 0 then
    return { "import", "export", "prune" }
  end
  if rest[1] == "import" and #rest == 2 then
    return { "auto", "bash", "zsh", "fish", "json" }
  end
  if (rest[1] == "import" or rest[1] == "export") and #rest == 1 then
    return vim.fn.getcompletion(arglead, "file")
  end
  return {}
end

--- Commands from history that start with `prefix` (for completion; bounded wait).
function M.suggest(prefix)
  if not host.running() then
    return {}
  end
  local ok, rows = pcall(host.wait, "history.suggest", { prefix = prefix, limit = 20 }, 200)
  if not ok then
    return {}
  end
  return vim.tbl_map(function(r)
    return r.command
  end, rows)
end

function M.open(args, _info)
  if args and args[1] then
    local action = admin[args[1]]
    if not action then
      error(("unknown history action %q; valid: import, export, prune (or none for the picker)"):format(args[1]), 0)
    end
    return action(vim.list_slice(args, 2))
  end
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
