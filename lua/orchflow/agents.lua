-- :Orchflow agent list: the agents float. One row per agent (typed pane agents and AI
-- agents over ACP or in a terminal): name, agent, transport, state with its age, worktree
-- branch or cwd, tokens, last message, and the overlap warnings of agent.list. Rows needing
-- input come first, then working ones, then the rest, most recent change first.
--
-- Live: agent.* events (state, turn, update; pushed by the orchestrator, nothing polls for
-- them) patch a row at once and ask for a fresh agent.list, at most one per THROTTLE_MS and
-- one in flight. A tick once a second redraws the ages from what is known; every POLL_TICKS
-- ticks agent.list is read again for what has no event (a typed agent's pane closed from
-- outside). Only lines whose text changed are written; the cursor stays on its agent and
-- focus never moves (the float is entered only when the user opens it).
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")
local fmt = require("orchflow.fmt")
local present = fmt.present
local pad = fmt.pad

local THROTTLE_MS = 200 -- at most one agent.list per this, however many events arrive
local TICK_MS = 1000 -- ages redrawn
local POLL_TICKS = 3 -- agent.list read again every this many ticks (what has no event)
local MAX_LAST = 200 -- characters of the last message kept for its column
local RESTART_TIMEOUT_S = 90 -- agent.restart starts the agent again (its initialize included)

M.ns = vim.api.nvim_create_namespace("orchflow_agents")

M.footer = "a attach  p prompt  A answer  o output  s stop  r restart  ? help  q close"

M.keys = {
  { "<CR> a", "attach: the agent's pane in a terminal split (an ACP agent: its output)" },
  { "p", "prompt: type a prompt, sent with agent.prompt (a typed agent: typed into its pane)" },
  { "A", "answer the agent's open question (a terminal agent: jump to its pane)" },
  { "o", "output: the agent's output, following it" },
  { "s", "stop the agent (asks first)" },
  { "r", "restart the agent, resuming its conversation where it can" },
  { "R", "refresh now" },
  { "q <Esc>", "close" },
  { "?", "this help" },
}

local CAPS = { name = 18, agent = 10, transport = 8, state = 17, where = 24, tokens = 10 }
local COLUMNS = { "name", "agent", "transport", "state", "where", "tokens" }
local RANK = { needs_input = 1, working = 2 }

local state_hl = {
  needs_input = "OrchflowAgentNeedsInput",
  working = "OrchflowAgentWorking",
  starting = "OrchflowAgentWorking",
  idle = "OrchflowAgentIdle",
  active = "OrchflowAgentWorking",
  quiet = "OrchflowAgentIdle",
  exited = "OrchflowAgentDone",
  closed = "OrchflowAgentDone",
  error = "OrchflowAgentError",
}

--- "950", "1.2k", "3.4M": a token count, short.
function M.count(n)
  n = tonumber(n)
  if not n then
    return ""
  elseif n < 1000 then
    return tostring(math.floor(n))
  elseif n < 1000000 then
    return (("%.1fk"):format(n / 1000):gsub("%.0k$", "k"))
  end
  return (("%.1fM"):format(n / 1000000):gsub("%.0M$", "M"))
end

--- Tokens from an agent's usage: the context used of its size ("1.2k/200k"), else the
--- last turn's total; "" when not known (terminal agents report none).
function M.tokens(a)
  local u = present(a.usage) and a.usage or nil
  if not u then
    return ""
  end
  local ctx = present(u.context) and u.context or nil
  if ctx and present(ctx.used) then
    return M.count(ctx.used) .. (present(ctx.size) and ("/" .. M.count(ctx.size)) or "")
  end
  local turn = present(u.turns) and u.turns or nil
  if turn then
    local total = turn.totalTokens or turn.total_tokens
    if present(total) then
      return M.count(total)
    end
  end
  return ""
end

--- "~/src/app", or its last two parts ("…/src/app") when longer than the column.
function M.short_path(path)
  local home = vim.fn.fnamemodify(path, ":~")
  if vim.fn.strdisplaywidth(home) <= CAPS.where then
    return home
  end
  local parts = vim.split(home, "/", { trimempty = true })
  return "…/" .. table.concat(vim.list_slice(parts, math.max(1, #parts - 1)), "/")
end

local function one_line(text)
  if not present(text) or text == "" then
    return ""
  end
  local lines = vim.split(tostring(text), "\n", { trimempty = true })
  local last = vim.trim(lines[#lines] or "")
  return vim.fn.strcharpart(last, 0, MAX_LAST)
end

--- The row of one agent.list view, with the local time its state began (`since`) and its
--- sort key (`recent`), both in this Neovim's clock (ages survive clock skew).
function M.row(a, now)
  now = now or os.time()
  local ai = a.type == "ai" and present(a.state_age_s)
  local row = { id = a.id, name = a.name or a.id, view = a, overlaps = a.overlaps }
  local worktree = present(a.worktree) and type(a.worktree) == "table" and a.worktree or nil
  if worktree and present(worktree.branch) then
    row.where = worktree.branch
  elseif present(a.cwd) then
    row.where = M.short_path(a.cwd)
  else
    row.where = ""
  end
  if ai then
    row.agent, row.transport, row.state = a.agent, a.transport or "acp", a.state
    row.since = now - (tonumber(a.state_age_s) or 0)
    row.tokens = M.tokens(a)
    if present(a.question) and a.state == "needs_input" then
      row.last = "asks: " .. one_line(a.question)
    elseif type(a.questions) == "table" and #a.questions > 0 then
      row.last = "asks: " .. one_line(a.questions[1].title)
    elseif present(a.last_message) then
      row.last = one_line(a.last_message)
    elseif present(a.state_reason) then
      row.last = one_line(("[%s] %s"):format(a.state_source or "?", a.state_reason))
    else
      row.last = ""
    end
  else -- a typed agent (a pane): its activity while it runs, else its pane's state
    row.agent, row.transport, row.tokens = a.type or "", "pane", ""
    local last_out = tonumber(present(a.last_output_at) and a.last_output_at or a.created_at)
    if present(a.activity) then
      row.state = a.activity
      row.since = last_out and math.min(now, last_out) or now
    else
      row.state = a.state .. (present(a.exit_code) and ("(" .. a.exit_code .. ")") or "")
      row.since = tonumber(a.created_at) or now
    end
    row.last = one_line(a.command)
  end
  row.recent = row.since
  return row
end

--- needs_input first, then working, then the rest; within each, most recent first.
function M.sort(rows)
  table.sort(rows, function(x, y)
    local rx, ry = RANK[x.state] or 3, RANK[y.state] or 3
    if rx ~= ry then
      return rx < ry
    end
    if x.recent ~= y.recent then
      return x.recent > y.recent
    end
    return tostring(x.name) < tostring(y.name)
  end)
  return rows
end

local function age(row, now)
  return require("orchflow.ai").age(math.max(0, now - row.since))
end


--- Lines of the float for `rows` (sorted), the agent on each line, and highlights
--- ({line, col_start, col_end, group}; 0-based lines and byte columns).
function M.render(rows, now)
  now = now or os.time()
  local cells = {}
  for i, r in ipairs(rows) do
    cells[i] = {
      name = r.name,
      agent = r.agent or "",
      transport = r.transport or "",
      state = r.state .. " " .. age(r, now),
      where = r.where or "",
      tokens = r.tokens or "",
    }
  end
  local head = { name = "NAME", agent = "AGENT", transport = "VIA", state = "STATE", where = "WHERE", tokens = "TOKENS" }
  local width = {}
  for _, col in ipairs(COLUMNS) do
    local w = vim.fn.strdisplaywidth(head[col])
    for _, c in ipairs(cells) do
      w = math.max(w, vim.fn.strdisplaywidth(c[col]))
    end
    width[col] = math.min(w, CAPS[col])
  end
  local function cut(s, n)
    if vim.fn.strdisplaywidth(s) > n then
      return vim.fn.strcharpart(s, 0, n - 1) .. "…"
    end
    return s
  end
  local function line_of(c, last)
    local parts, state_at = {}, 0
    for _, col in ipairs(COLUMNS) do
      if col == "state" then -- byte column where the state starts (for its highlight)
        state_at = #table.concat(parts, " ") + (#parts > 0 and 1 or 0)
      end
      parts[#parts + 1] = pad(cut(c[col], width[col]), width[col])
    end
    parts[#parts + 1] = last
    return (table.concat(parts, " "):gsub("%s+$", "")), state_at
  end
  local lines, at, hls = { (line_of(head, "LAST")) }, {}, { { 0, 0, -1, "OrchflowDim" } }
  for i, r in ipairs(rows) do
    local c = cells[i]
    local line, state_at = line_of(c, r.last or "")
    lines[#lines + 1] = line
    at[#lines] = r
    local l = #lines - 1
    local group = state_hl[r.state] or state_hl[r.state:match("^%a+")]
    if r.state == "needs_input" then
      hls[#hls + 1] = { l, 0, -1, "OrchflowAgentNeedsInput" } -- the whole row stands out
    elseif group then
      hls[#hls + 1] = { l, state_at, state_at + #cut(c.state, width.state), group }
    end
    -- overlap warning: files this agent's worktree changed that another's changed too
    for _, o in ipairs(type(r.overlaps) == "table" and r.overlaps or {}) do
      lines[#lines + 1] = ("  ! %s also changed by %s"):format(o.path, table.concat(o.agents, ", "))
      at[#lines] = r
      hls[#hls + 1] = { #lines - 1, 0, -1, "OrchflowWarn" }
    end
  end
  if #rows == 0 then
    lines = { "No agents. :Orchflow agent new {type} starts one." }
    hls = {}
  end
  return lines, at, hls
end

-- the open float (one at a time) ----------------------------------------------------------
local view = nil ---@type table?

local function valid(v)
  return v and vim.api.nvim_buf_is_valid(v.buf) and vim.api.nvim_win_is_valid(v.win)
end

--- Write `lines` where they differ from the buffer's; keep the cursor on its agent.
local function draw(v)
  if not valid(v) then
    return
  end
  local now = os.time()
  local rows = M.sort(vim.tbl_values(v.rows))
  local cursor_line = vim.api.nvim_win_get_cursor(v.win)[1]
  local under = v.at and v.at[cursor_line]
  local lines, at, hls = M.render(rows, now)
  v.at = at
  local old = vim.api.nvim_buf_get_lines(v.buf, 0, -1, false)
  local changed = #old ~= #lines
  vim.bo[v.buf].modifiable = true
  if changed then
    vim.api.nvim_buf_set_lines(v.buf, 0, -1, false, lines)
  else
    for i, line in ipairs(lines) do
      if old[i] ~= line then
        vim.api.nvim_buf_set_lines(v.buf, i - 1, i, false, { line })
        changed = true
      end
    end
  end
  vim.bo[v.buf].modifiable = false
  v.draws = v.draws + (changed and 1 or 0)
  if changed then
    vim.api.nvim_buf_clear_namespace(v.buf, M.ns, 0, -1)
    for _, h in ipairs(hls) do
      local line_text = lines[h[1] + 1] or ""
      vim.api.nvim_buf_set_extmark(v.buf, M.ns, h[1], h[2], {
        end_col = h[3] == -1 and #line_text or math.min(h[3], #line_text),
        hl_group = h[4],
        priority = h[4] == "OrchflowAgentNeedsInput" and 200 or 100,
      })
    end
    local cfg = require("orchflow.config").get().float
    local max_h = require("orchflow.float").size(cfg.height, vim.o.lines - vim.o.cmdheight - 2)
    local height = math.max(1, math.min(#lines, max_h))
    if vim.api.nvim_win_get_height(v.win) ~= height then -- still centred
      local editor_h = vim.o.lines - vim.o.cmdheight - 2
      local c = vim.api.nvim_win_get_config(v.win)
      vim.api.nvim_win_set_config(v.win, {
        relative = "editor",
        row = math.max(0, math.floor((editor_h - height) / 2)),
        col = c.col,
        height = height,
      })
    end
  end
  -- the cursor stays on the agent it was on (its row may have moved; on one of its
  -- overlap lines it stays put)
  local target = nil
  if under and at[cursor_line] and at[cursor_line].id == under.id then
    target = cursor_line
  elseif under then
    for line, r in pairs(at) do
      if r.id == under.id and (not target or line < target) then
        target = line
      end
    end
  end
  target = target or math.min(math.max(cursor_line, #lines > 1 and 2 or 1), #lines)
  if target ~= cursor_line then
    vim.api.nvim_win_set_cursor(v.win, { target, 0 })
  end
end

--- Take an agent.list answer as the float's rows and draw them.
local function take(v, res)
  local now = os.time()
  local rows = {}
  for _, a in ipairs(res.agents or res) do
    rows[a.id] = M.row(a, now)
  end
  v.rows = rows
  v.fetches = v.fetches + 1
  v.last_fetch = vim.uv.now()
  draw(v)
end

local function fetch(v)
  v.inflight = true
  host.call("agent.list", {}, function(err, res)
    v.inflight = false
    v.last_fetch = vim.uv.now()
    if err then
      if not v.reported then -- once per float: a dead orchestrator is not a flood of notices
        v.reported = true
        host.report(err)
      end
      return
    end
    v.reported = false
    take(v, res)
    if v.again then
      v.again = false
      M.refresh()
    end
  end)
end

--- A fresh agent.list for the open float: at once, or THROTTLE_MS after the last one;
--- events meanwhile are folded into one.
function M.refresh()
  local v = view
  if not valid(v) then
    return
  end
  if v.inflight then
    v.again = true
    return
  end
  if v.pending then
    return
  end
  local wait = math.max(0, (v.last_fetch or 0) + THROTTLE_MS - vim.uv.now())
  v.pending = true
  vim.defer_fn(function()
    v.pending = false
    if valid(v) then
      fetch(v)
    end
  end, wait)
end

--- An agent.state event: the row changes now; the rest of its view follows with agent.list.
local function on_state(ev)
  local v = view
  if not valid(v) or type(ev) ~= "table" then
    return
  end
  local r = v.rows[ev.id]
  if r and r.transport ~= "pane" then
    r.state = ev.state
    r.since, r.recent = os.time(), os.time()
    if ev.state == "needs_input" then -- a terminal agent's question, an ACP one's "asks: …"
      r.last = present(ev.question) and ("asks: " .. one_line(ev.question)) or one_line(ev.reason)
    end
    draw(v)
  end
  M.refresh()
end

local function current(v)
  local line = vim.api.nvim_win_get_cursor(v.win)[1]
  return v.at and v.at[line] or nil
end

local function close(v)
  if vim.api.nvim_win_is_valid(v.win) then
    vim.api.nvim_win_close(v.win, true)
  end
end

local function notify(msg, level)
  vim.notify("orchflow: " .. msg, level or vim.log.levels.INFO)
end

-- actions ------------------------------------------------------------------------------------
local actions = {}

function actions.attach(v, r)
  local a = r.view
  if a.transport == "acp" then -- no pane of its own: its transcript, following it
    return require("orchflow.ai").output(a)
  end
  if not present(a.pane_id) then
    return notify(("%s has no pane (%s)"):format(r.name, r.state), vim.log.levels.WARN)
  end
  close(v) -- the pane opens in a split of the window under the float
  require("orchflow.terminal").pane_attach({ a.pane_id })
end

function actions.prompt(_, r)
  local a = r.view
  vim.ui.input({ prompt = ("prompt %s: "):format(r.name) }, function(text)
    if not text or vim.trim(text) == "" then
      return
    end
    if a.type ~= "ai" then -- a typed agent: the line typed into its pane
      return host.call("agent.send", { id = a.id, text = text }, host.with_result(function()
        notify(("sent to %s"):format(r.name))
      end))
    end
    host.call("agent.prompt", { id = a.id, text = text }, host.with_result(function(res)
      local turn = present(res.turn_id) and (": turn " .. res.turn_id) or ""
      notify(("prompted %s%s"):format(r.name, turn))
      M.refresh()
    end))
  end)
end

function actions.answer(v, r)
  local a = r.view
  if a.type ~= "ai" then
    return notify(("%s is a %s agent: nothing to answer; a attaches its pane"):format(r.name, a.type))
  end
  if a.transport == "terminal" then
    close(v) -- its question is in its TUI: its pane opens in a split
  end
  require("orchflow.ai").answer({ a.id })
end

function actions.output(_, r)
  require("orchflow.orchestrator").agent_output({ r.view.id })
end

function actions.stop(_, r)
  local yes = ("Stop %s"):format(r.name)
  vim.ui.select({ yes, "Keep it" }, { prompt = ("Stop agent %s?"):format(r.name), kind = "orchflow.confirm" }, function(choice)
    if choice ~= yes then
      return
    end
    host.call("agent.stop", { id = r.view.id }, host.with_result(function()
      notify(("stopped %s"):format(r.name))
      M.refresh()
    end))
  end)
end

function actions.restart(_, r)
  notify(("restarting %s…"):format(r.name))
  host.call("agent.restart", { id = r.view.id, resume = true }, function(err, res)
    if err then
      return host.report(err) -- the orchestrator's own message
    end
    notify(("restarted %s: %s"):format(res.name or r.name, res.how or (res.resumed and "resumed" or "new session")))
    M.refresh()
  end, { timeout_s = RESTART_TIMEOUT_S })
end

local function help()
  local lines = {}
  for _, k in ipairs(M.keys) do
    lines[#lines + 1] = ("%-8s %s"):format(k[1], k[2])
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Rows: needs_input first, then working, then the rest (newest first)."
  lines[#lines + 1] = "The list follows the agents' state changes by itself."
  require("orchflow.float").open(lines, { title = "orchflow agents: keys", fit = true })
end

local opening = false

--- :Orchflow agent list: read the agents, then open the float (or go back to the open one).
--- An error (the orchestrator is off or unreachable) is a notice and no float.
function M.open()
  if valid(view) then
    vim.api.nvim_set_current_win(view.win)
    return M.refresh()
  end
  if opening then
    return
  end
  opening = true
  host.call("agent.list", {}, function(err, res)
    opening = false
    if err then
      return host.report(err)
    end
    if not valid(view) then
      take(M.float(), res)
    end
  end)
end

--- The float, empty and live (its events, tick and keys); returns its view.
function M.float()
  local cfg = require("orchflow.config").get().float
  local win, buf = require("orchflow.float").open({}, {
    title = "orchflow agents",
    footer = M.footer,
    filetype = "orchflow-agents",
    width = cfg.width,
    height = 1,
  })
  vim.wo[win].cursorline = true
  local v = {
    win = win,
    buf = buf,
    rows = {},
    at = {},
    draws = 0,
    fetches = 0,
    ticks = 0,
  }
  view = v
  local off = {
    events.on("agent.state", on_state),
    events.on("agent.turn", M.refresh),
    events.on("agent.update", M.refresh),
    events.on("agent.permission", M.refresh),
    events.on("agent.permission_closed", M.refresh),
  }
  local timer = assert(vim.uv.new_timer())
  timer:start(TICK_MS, TICK_MS, vim.schedule_wrap(function()
    if not valid(v) then
      return
    end
    v.ticks = v.ticks + 1
    draw(v)
    if v.ticks % POLL_TICKS == 0 then
      M.refresh()
    end
  end))
  vim.api.nvim_create_autocmd({ "BufWipeout", "WinClosed" }, {
    buffer = buf,
    once = true,
    callback = function()
      for _, unsubscribe in ipairs(off) do
        unsubscribe()
      end
      if not timer:is_closing() then
        timer:stop()
        timer:close()
      end
      if view == v then
        view = nil
      end
    end,
  })
  local function map(keys, name, fn)
    for _, key in ipairs(keys) do
      vim.keymap.set("n", key, function()
        local r = current(v)
        if not r then
          return notify("no agent on this line", vim.log.levels.WARN)
        end
        fn(v, r)
      end, { buffer = buf, nowait = true, desc = "orchflow agents: " .. name })
    end
  end
  map({ "<CR>", "a" }, "attach", actions.attach)
  map({ "p" }, "prompt", actions.prompt)
  map({ "A" }, "answer", actions.answer)
  map({ "o" }, "output", actions.output)
  map({ "s" }, "stop", actions.stop)
  map({ "r" }, "restart", actions.restart)
  vim.keymap.set("n", "R", function()
    v.last_fetch = 0
    M.refresh()
  end, { buffer = buf, nowait = true, desc = "orchflow agents: refresh" })
  vim.keymap.set("n", "?", help, { buffer = buf, nowait = true, desc = "orchflow agents: help" })
  return v
end

--- The open float's counters (for tests and benchmarks): how often it read agent.list, how
--- often a line changed, and whether a read is due or running (busy).
function M.stats()
  local v = view
  if not valid(v) then
    return nil
  end
  return { fetches = v.fetches, draws = v.draws, win = v.win, buf = v.buf, busy = v.inflight or v.pending or false }
end

return M
