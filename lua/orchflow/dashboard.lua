-- The dashboard float: sessions and their panes with type, command, state and
-- last output line. One session.list when it opens; after that it applies the
-- events' payloads (orchflow.panes) and redraws, never re-listing. Only the "last
-- line" column asks the host again: for panes that printed, on screen, at most
-- once a second (LINES_INTERVAL_MS), while the dashboard is open.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")
local panes = require("orchflow.panes")

M.LINES_INTERVAL_MS = 1000

---@type { win: integer, buf: integer, rows: table, unsubs: table, pending: boolean, timer: uv.uv_timer_t, asking: boolean, asked_at: integer }|nil
local view = nil
local ns = vim.api.nvim_create_namespace("orchflow_dashboard")

local function state_text(p)
  if p.state == "exited" or (p.state == "idle" and p.exit_code ~= nil and p.exit_code ~= vim.NIL) then
    return ("%s %s"):format(p.state == "exited" and "exited" or "idle", p.exit_code)
  end
  return p.state
end

local function state_hl(p)
  if p.state == "running" then
    return "OrchflowOk"
  end
  local code = p.exit_code
  if code ~= nil and code ~= vim.NIL and code ~= 0 then
    return "OrchflowError"
  end
  return p.state == "exited" and "OrchflowWarn" or "OrchflowDim"
end

local function trunc(s, n)
  s = tostring(s or "")
  if vim.fn.strdisplaywidth(s) <= n then
    return s .. string.rep(" ", n - vim.fn.strdisplaywidth(s))
  end
  return vim.fn.strcharpart(s, 0, n - 1) .. "…"
end

--- The shell column: the integrated shell (bash, zsh, fish: typed commands are runs and
--- pane run types the command as is), "wrap" for a shell pane without it (pane run uses
--- its visible wrapper), "" for a pane running its own command.
function M.shell_text(p)
  local shell = p.shell_integration
  if shell ~= nil and shell ~= vim.NIL and shell ~= "" then
    return shell
  end
  return (p.command == nil or p.command == vim.NIL or p.command == "") and "wrap" or ""
end

--- Lines, highlights and the pane behind each line, from session.list's answer.
function M.render(sessions)
  local lines, hls, rows = {}, {}, {}
  if #sessions == 0 then
    lines[1] = "No sessions yet. :Orchflow pane new [type] [cmd] makes one."
  end
  for _, s in ipairs(sessions) do
    lines[#lines + 1] = ("%s %s%s"):format(s.current and "●" or "○", s.name, s.current and "  (current)" or "")
    hls[#hls + 1] = { #lines - 1, 0, -1, "OrchflowTitle" }
    if #s.panes == 0 then
      lines[#lines + 1] = "    (no orchflow panes)"
      hls[#hls + 1] = { #lines - 1, 0, -1, "OrchflowDim" }
    end
    for _, p in ipairs(s.panes) do
      local cmd = (p.last_command ~= vim.NIL and p.last_command) or p.command or ""
      local line = ("  %s %s %s %s %s %s %s"):format(
        trunc(p.name ~= "" and p.name or "-", 12),
        trunc(p.pane_id, 5),
        trunc(p.type, 7),
        trunc(M.shell_text(p), 4),
        trunc(state_text(p), 10),
        trunc(cmd, 22),
        p.last_line or ""
      )
      lines[#lines + 1] = line
      rows[#lines] = p
      local col = 2 + 13 + 6 + 8
      if M.shell_text(p) == "wrap" then
        hls[#hls + 1] = { #lines - 1, col, col + 4, "OrchflowDim" }
      end
      col = col + 5
      hls[#hls + 1] = { #lines - 1, col, col + 10, state_hl(p) }
    end
  end
  return lines, hls, rows
end

local function draw()
  if not view or not vim.api.nvim_win_is_valid(view.win) then
    return
  end
  local lines, hls, rows = M.render(panes.sessions())
  view.rows = rows
  vim.bo[view.buf].modifiable = true
  vim.api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
  vim.bo[view.buf].modifiable = false
  vim.api.nvim_buf_clear_namespace(view.buf, ns, 0, -1)
  for _, h in ipairs(hls) do
    vim.api.nvim_buf_add_highlight(view.buf, ns, h[4], h[1], h[2], h[3])
  end
end

--- Everything again, from one session.list (on open, and after tmux was lost).
function M.refresh()
  if not view or view.pending then
    return
  end
  view.pending = true
  host.call("session.list", {}, function(err, sessions)
    if view then
      view.pending = false
    end
    if err then
      return host.report(err)
    end
    panes.seed_sessions(sessions) -- redraws through on_change
  end)
end

--- Panes on screen whose last line is out of date.
local function stale_on_screen()
  local out = {}
  if not view or not vim.api.nvim_win_is_valid(view.win) then
    return out
  end
  local first = vim.fn.line("w0", view.win)
  local last = vim.fn.line("w$", view.win)
  for row = first, last do
    local p = view.rows[row]
    if p and panes.is_stale(p.pane_id) then
      out[#out + 1] = p.pane_id
    end
  end
  return out
end

local ask_lines -- forward

--- Ask for stale last lines now, or when LINES_INTERVAL_MS has passed since the last ask.
local function schedule_lines()
  if not view or view.asking or view.timer:is_active() then
    return
  end
  local wait = math.max(0, view.asked_at + M.LINES_INTERVAL_MS - vim.uv.now())
  view.timer:start(wait, 0, vim.schedule_wrap(ask_lines))
end

ask_lines = function()
  if not view or view.asking then
    return
  end
  local ids = stale_on_screen()
  if #ids == 0 then
    return
  end
  panes.clear_stale(ids)
  view.asking, view.asked_at = true, vim.uv.now()
  local this = view
  host.call("pane.last_lines", { panes = ids }, function(err, lines)
    this.asking = false
    if err then
      return host.report(err)
    end
    panes.set_last_lines(lines)
    if view == this then
      schedule_lines() -- more printed meanwhile
    end
  end)
end

local function current_pane()
  if not view then
    return nil
  end
  return view.rows[vim.api.nvim_win_get_cursor(view.win)[1]]
end

function M.close()
  if not view then
    return
  end
  for _, unsub in ipairs(view.unsubs) do
    unsub()
  end
  if not view.timer:is_closing() then
    view.timer:stop()
    view.timer:close()
  end
  if vim.api.nvim_win_is_valid(view.win) then
    vim.api.nvim_win_close(view.win, true)
  end
  view = nil
end

function M.open()
  if view and vim.api.nvim_win_is_valid(view.win) then
    return M.refresh()
  end
  local win, buf = require("orchflow.float").open({ "loading…" }, {
    title = "orchflow",
    footer = "<CR> attach  o output  x close pane  q quit",
    filetype = "orchflow-dashboard",
  })
  view = {
    win = win,
    buf = buf,
    rows = {},
    unsubs = {},
    pending = false,
    timer = assert(vim.uv.new_timer()),
    asking = false,
    asked_at = 0,
  }
  local function map(key, fn, desc)
    vim.keymap.set("n", key, fn, { buffer = buf, nowait = true, desc = "orchflow: " .. desc })
  end
  local function on_pane(fn)
    return function()
      local p = current_pane()
      if p then
        fn(p)
      end
    end
  end
  local terminal = require("orchflow.terminal")
  map("<CR>", on_pane(function(p)
    M.close()
    terminal.pane_attach({ p.pane_id })
  end), "attach")
  map("o", on_pane(function(p)
    M.close()
    terminal.pane_output({ p.pane_id })
  end), "output")
  map("x", on_pane(function(p)
    terminal.pane_close({ p.pane_id })
  end), "close pane")
  map("q", M.close, "quit")
  map("<Esc>", M.close, "quit")
  view.unsubs[#view.unsubs + 1] = panes.on_change(function(what)
    if what == "panes" then
      draw()
    end
    schedule_lines()
  end)
  view.unsubs[#view.unsubs + 1] = events.on("tmux.lost", M.refresh)
  local scrolled = vim.api.nvim_create_autocmd("WinScrolled", { -- rows come into view
    pattern = tostring(win),
    callback = function()
      schedule_lines()
    end,
  })
  view.unsubs[#view.unsubs + 1] = function()
    pcall(vim.api.nvim_del_autocmd, scrolled)
  end
  vim.api.nvim_create_autocmd("WinClosed", {
    pattern = tostring(win),
    once = true,
    callback = function()
      vim.schedule(M.close)
    end,
  })
  M.refresh()
end

return M
