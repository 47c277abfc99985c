-- AI agents in Neovim: the "needs input" notice and its answer (ACP) or a way to its
-- pane (terminal agents), the transcript buffer of an ACP agent, prompts. The orchestrator's agent.* notifications arrive as
-- orchflow events (orchflow_core/remote/link.py); nothing here polls.
--
-- A question (session/request_permission) is shown only when the user is not typing:
-- in insert, replace, terminal or command-line mode, or with an operator pending, it
-- waits for the next CursorHold or for the return to normal mode. It is then a notice
-- naming the agent and its question, and vim.ui.select of the agent's own options.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")

local queue = {} ---@type table[]  open questions, oldest first
local showing = nil ---@type table?  the question vim.ui.select is showing
local armed = false

local function key(q)
  return q.id .. "/" .. q.request_id
end

local function busy()
  local m = vim.api.nvim_get_mode()
  if m.blocking then
    return true
  end
  local mode = m.mode
  return mode:match("^[icRrt]") ~= nil or mode:match("^no") ~= nil or vim.fn.getcmdwintype() ~= ""
end

local show_next
local show_terminal

local function arm()
  if armed then
    return
  end
  armed = true
  local group = vim.api.nvim_create_augroup("orchflow_ai_questions", { clear = true })
  vim.api.nvim_create_autocmd({ "CursorHold", "ModeChanged" }, {
    group = group,
    callback = function()
      if busy() then
        return -- still typing: keep waiting
      end
      armed = false
      vim.api.nvim_del_augroup_by_id(group)
      vim.schedule(show_next)
    end,
  })
end

local function answer(q, choice)
  if not choice then -- dismissed: kept, shown again by :Orchflow agent answer
    q.snoozed = true
    queue[#queue + 1] = q
    vim.notify(("orchflow: %s still waits: :Orchflow agent answer %s"):format(q.name, q.name), vim.log.levels.INFO)
    return
  end
  host.call("agent.answer", { id = q.id, request_id = q.request_id, option_id = choice.option_id }, function(err)
    if err then
      host.report(err)
    end
  end)
end

--- Show the oldest open question (not one the user dismissed), unless one is shown or
--- the user is typing.
show_next = function()
  if showing then
    return
  end
  local index = nil
  for i, q in ipairs(queue) do
    if not q.snoozed then
      index = i
      break
    end
  end
  if not index then
    return show_terminal()
  end
  if busy() then
    return arm()
  end
  local q = table.remove(queue, index)
  showing = q
  vim.notify(("orchflow: %s needs input: %s"):format(q.name, q.title), vim.log.levels.WARN)
  vim.ui.select(q.options, {
    prompt = ("%s asks: %s"):format(q.name, q.title),
    kind = "orchflow.agent_permission",
    format_item = function(o)
      return o.name
    end,
  }, function(choice)
    showing = nil
    answer(q, choice)
    vim.schedule(show_next)
  end)
end

function M.pending()
  return vim.deepcopy(queue)
end

-- ACP agents' states, from agent.state events (for the statusline)
local states = {} ---@type table<string, string>  agent id -> state

events.on("agent.state", function(ev)
  states[ev.id] = ev.state
end)

-- Terminal AI agents (hooks, patterns, quiescence): "needs input" is a notice naming the
-- agent and its question, and a choice to open its pane (a tmux client in a split) — shown
-- as the ACP questions are, only once the user is not typing.
local waiting = {} ---@type table<string, table>  agent id -> its needs_input event, not yet shown
local later = {} ---@type table<string, table>  agent id -> a question the user put off ("Later")

--- Show the oldest terminal agent's question (one at a time, not while typing).
show_terminal = function()
  if showing then
    return
  end
  local first = nil
  for _, ev in pairs(waiting) do
    if not first or ev.at < first.at then
      first = ev
    end
  end
  if not first then
    return
  end
  if busy() then
    return arm()
  end
  waiting[first.id] = nil
  local question = first.question ~= vim.NIL and first.question or "waiting for you"
  showing = { id = first.id, request_id = "terminal" }
  vim.notify(("orchflow: %s needs input: %s"):format(first.name, question), vim.log.levels.WARN)
  vim.ui.select({ "Open its pane", "Later" }, {
    prompt = ("%s asks: %s"):format(first.name, question),
    kind = "orchflow.agent_needs_input",
  }, function(choice)
    showing = nil
    if choice == "Open its pane" then
      require("orchflow.terminal").pane_attach({ first.pane_id })
    else -- put off: :Orchflow agent answer [name] opens it again
      later[first.id] = first
      vim.notify(("orchflow: %s still waits: :Orchflow agent answer %s"):format(first.name, first.name), vim.log.levels.INFO)
    end
    vim.schedule(show_next)
  end)
end

events.on("agent.state", function(ev)
  if ev.transport ~= "terminal" then
    return
  end
  if ev.state == "needs_input" then
    if not (later[ev.id] and later[ev.id].question == ev.question) then
      later[ev.id] = nil
      waiting[ev.id] = ev
      vim.schedule(show_next)
    end
  else -- answered in the pane, or it went on: nothing to show
    waiting[ev.id], later[ev.id] = nil, nil
  end
end)

--- The terminal agents whose question is not shown yet (for tests and :Orchflow agent list).
function M.waiting()
  return vim.deepcopy(waiting)
end

--- "ai 3 ?1 !1": 3 ACP agents running, 1 needs input, 1 ended in error; "" when none.
function M.status()
  local live, asking, failed = 0, 0, 0
  for _, state in pairs(states) do
    if state == "needs_input" then
      asking = asking + 1
    elseif state == "error" then
      failed = failed + 1
    end
    if state ~= "exited" and state ~= "error" then
      live = live + 1
    end
  end
  if live + failed == 0 then
    return ""
  end
  local parts = { ("ai %d"):format(live) }
  if asking > 0 then
    parts[#parts + 1] = ("?%d"):format(asking)
  end
  if failed > 0 then
    parts[#parts + 1] = ("!%d"):format(failed)
  end
  return table.concat(parts, " ")
end

events.on("agent.permission", function(q)
  queue[#queue + 1] = q
  vim.schedule(show_next)
end)

events.on("agent.permission_closed", function(ev)
  for i, q in ipairs(queue) do
    if q.id == ev.id and q.request_id == ev.request_id then
      table.remove(queue, i)
      break
    end
  end
end)

--- :Orchflow agent answer [id]: open questions again (those dismissed earlier); with an
--- id, that agent's, as the orchestrator has them.
function M.answer(args)
  if #args < 1 then
    if #queue == 0 and next(later) == nil then
      return vim.notify("orchflow: no agent waits for an answer", vim.log.levels.INFO)
    end
    for _, q in ipairs(queue) do
      q.snoozed = nil
    end
    for id, ev in pairs(later) do
      waiting[id], later[id] = ev, nil
    end
    return show_next()
  end
  host.call("agent.get", { id = args[1] }, function(err, a)
    if err then
      return host.report(err)
    end
    if a.transport == "terminal" then -- its question is in its TUI: open its pane
      later[a.id], waiting[a.id] = nil, nil
      if a.state ~= "needs_input" then
        vim.notify(("orchflow: %s is %s, not waiting for input"):format(a.name, a.state), vim.log.levels.INFO)
      end
      return require("orchflow.terminal").pane_attach({ a.pane_id })
    end
    if type(a.questions) ~= "table" or #a.questions == 0 then
      return vim.notify(("orchflow: %s has no open question"):format(a.name), vim.log.levels.INFO)
    end
    for _, q in ipairs(a.questions) do
      local item = vim.tbl_extend("force", q, { id = a.id, name = a.name })
      local known = vim.iter(queue):find(function(x)
        return key(x) == key(item)
      end)
      if known then
        known.snoozed = nil
      elseif not (showing and key(showing) == key(item)) then
        table.insert(queue, 1, item)
      end
    end
    show_next()
  end)
end

--- :Orchflow agent prompt {id} {text}: a turn (ACP) or the text typed and submitted.
function M.prompt(args, info)
  if #args < 2 then
    error("usage: :Orchflow agent prompt {id} {text}", 0)
  end
  local A = require("orchflow.args")
  local words, text = A.split(A.rest(args, info), 1)
  host.call("agent.prompt", { id = words[1], text = text }, function(err, res)
    if err then
      return host.report(err)
    end
    if res.turn_id and res.turn_id ~= vim.NIL then
      vim.notify(("orchflow: %s: turn %s started"):format(words[1], res.turn_id), vim.log.levels.INFO)
    end
  end)
end

function M.cancel(args)
  if #args < 1 then
    error("usage: :Orchflow agent cancel {id}", 0)
  end
  host.call("agent.cancel", { id = args[1] }, function(err, res)
    if err then
      return host.report(err)
    end
    local what = res.cancelled and ("turn " .. res.turn_id .. " cancelled") or "no turn was running"
    vim.notify(("orchflow: %s: %s"):format(args[1], what), vim.log.levels.INFO)
  end)
end

-- transcript buffers -------------------------------------------------------------
-- views[agent id] = { buf, seq, early }: seq is the last update the buffer shows; until
-- agent.output has answered (seq nil) updates wait in early, then those it did not
-- include (a greater seq) are appended.
local views = {} ---@type table<string, { buf: integer, seq: integer?, early: table[] }>

local append = require("orchflow.float").append

local function apply(v, ev)
  if ev.dropped and ev.dropped > 0 then
    append(v.buf, ("\n[orchflow: %d updates not shown]\n"):format(ev.dropped))
  end
  for _, u in ipairs(ev.updates or {}) do
    if u.seq > v.seq then
      append(v.buf, u.text or "")
      v.seq = u.seq
    end
  end
end

events.on("agent.update", function(ev)
  local v = views[ev.id]
  if not v then
    return
  end
  if v.seq == nil then
    v.early[#v.early + 1] = ev
  else
    apply(v, ev)
  end
end)

--- An ACP agent's transcript (the session/update stream as text) in a float that
--- follows new updates. Returns the window.
function M.output(agent)
  local win, buf = require("orchflow.float").open({}, { title = "agent: " .. agent.name, footer = "q close" })
  vim.bo[buf].filetype = "orchflow-agent"
  local v = { buf = buf, seq = nil, early = {} }
  views[agent.id] = v
  host.call("agent.output", { id = agent.id, lines = 10000 }, function(err, res)
    if err then
      views[agent.id] = nil
      return host.report(err)
    end
    append(buf, res.text or "")
    v.seq = res.seq or 0
    for _, ev in ipairs(v.early) do
      apply(v, ev)
    end
    v.early = {}
  end)
  vim.api.nvim_create_autocmd({ "BufWipeout", "BufHidden" }, {
    buffer = buf,
    once = true,
    callback = function()
      if views[agent.id] == v then
        views[agent.id] = nil
      end
    end,
  })
  return win
end

--- :Orchflow agent restart {id}: the AI agent starts again under its id and name,
--- resuming its conversation where it can (ACP session/load, a terminal agent's resume
--- flags); the notice says how (agent.restart's `how`).
function M.restart(args)
  if #args < 1 then
    error("usage: :Orchflow agent restart {id}", 0)
  end
  vim.notify(("orchflow: restarting %s"):format(args[1]), vim.log.levels.INFO)
  host.call("agent.restart", { id = args[1], resume = true }, function(err, res)
    if err then
      return host.report(err)
    end
    local what = res.resumed and "resumed" or "restarted"
    vim.notify(("orchflow: %s %s: %s"):format(res.name, what, res.how), vim.log.levels.INFO)
  end)
end

--- Completion for {id}: the AI agents' names (only when the host runs).
function M.complete_agents(_, rest)
  return require("orchflow.orchestrator").agent_names(rest, function(a)
    return a.type == "ai"
  end)
end

--- "3s", "4m", "2h": how long an agent has been in its state.
function M.age(seconds)
  seconds = tonumber(seconds) or 0
  if seconds < 60 then
    return ("%ds"):format(seconds)
  elseif seconds < 3600 then
    return ("%dm"):format(seconds / 60)
  end
  return ("%dh"):format(seconds / 3600)
end

return M
