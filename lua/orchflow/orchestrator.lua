-- :Orchflow orchestrator …, agent …, memory … . The host forwards these to the
-- orchestrator; in embedded mode it answers that the orchestrator is off and how
-- to turn it on, and that message is what the user sees.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")

M.agent_types = { "dev", "test", "repl", "build", "lint", "custom", "ai" }

-- The host waits for a starting sidecar itself (at most 10 s; calls are asynchronous,
-- so the editor is never blocked) and says so once with the orchestrator.starting event.
events.on("orchestrator.starting", function()
  vim.notify("orchflow: the orchestrator is starting…", vim.log.levels.INFO)
end)

local function call(method, params, cb, opts)
  host.call(method, params, cb or host.report, opts)
end

--- Long enough for a worktree's setup (or teardown) script: its timeout, twice, and a margin.
local function worktree_timeout()
  local opts = require("orchflow.config").get()
  local setup = (opts.worktree and opts.worktree.setup_timeout_s) or 120
  return math.max(opts.host.timeout_s, 2 * setup + 30)
end

local with_result = host.with_result

local need = require("orchflow.args").need

local function show(lines, title, footer)
  return require("orchflow.float").open(lines, { title = title, footer = footer, fit = true })
end

-- orchestrator -----------------------------------------------------------------
local function status_lines(s)
  local lines = { ("mode:     %s"):format(s.mode), ("state:    %s"):format(s.state or "?") }
  if s.pid and s.pid ~= vim.NIL then
    lines[#lines + 1] = ("pid:      %s"):format(s.pid)
  end
  if s.restarts and s.restarts > 0 then
    lines[#lines + 1] = ("restarts: %d"):format(s.restarts)
  end
  if type(s.health) == "table" then
    for _, k in ipairs({ "version", "uptime_s", "connections", "agents", "memory_entries" }) do
      if s.health[k] ~= nil then
        lines[#lines + 1] = ("%-9s %s"):format(k .. ":", vim.inspect(s.health[k]))
      end
    end
  end
  if s.error then
    lines[#lines + 1] = "error:    " .. s.error
  end
  if s.hint then
    lines[#lines + 1] = ""
    lines[#lines + 1] = s.hint
  end
  return lines
end

--- Completion of agent names: those ``keep(agent)`` accepts, from agent.list (only when the
--- host runs; at most 500 ms).
function M.agent_names(rest, keep)
  if #rest > 0 or not host.running() then
    return {}
  end
  local ok, res = pcall(host.wait, "agent.list", {}, 500)
  if not ok or type(res) ~= "table" then
    return {}
  end
  local out = {}
  for _, a in ipairs(res) do
    if keep(a) then
      out[#out + 1] = a.name
    end
  end
  return out
end

function M.start()
  host.call("orchestrator.start", {}, with_result(function(s)
    vim.notify(("orchflow: orchestrator %s (%s)"):format(s.state, s.mode), vim.log.levels.INFO)
  end))
end

function M.stop()
  host.call("orchestrator.stop", {}, with_result(function(s)
    vim.notify(("orchflow: orchestrator %s (%s)"):format(s.state or "stopped", s.mode), vim.log.levels.INFO)
  end))
end

function M.status()
  host.call("orchestrator.status", {}, with_result(function(s)
    show(status_lines(s), "orchflow orchestrator")
  end))
end

-- agents -----------------------------------------------------------------------
--- The first word and the raw text after it (as typed: lua/orchflow/args.lua).
local function word_and_text(args, info)
  local words, text = require("orchflow.args").split(require("orchflow.args").rest(args, info), 1)
  return words[1], text
end

--- :Orchflow agent new {type} [cmd]; :Orchflow agent new ai {agent} [prompt]
function M.agent_new(args, info)
  need(args, 1, ":Orchflow agent new {type} [cmd]")
  local agent_type, command = word_and_text(args, info)
  local params = { type = agent_type, cwd = vim.fn.getcwd() }
  if agent_type == "ai" then
    need(args, 2, ":Orchflow agent new ai {agent} [prompt]")
    local words, prompt = require("orchflow.args").split(command, 1)
    params.agent = words[1]
    if prompt ~= "" then
      params.prompt = prompt
    end
    return call("agent.new", params, with_result(function(a)
      local where = type(a.worktree) == "table" and (" in " .. a.worktree.path .. " on " .. a.worktree.branch) or ""
      vim.notify(("orchflow: agent %s (%s, %s) %s%s"):format(a.name, a.agent, a.transport, a.state, where), vim.log.levels.INFO)
    end), { timeout_s = worktree_timeout() })
  end
  if command ~= "" then
    params.command = command
  end
  call("agent.new", params, with_result(function(a)
    vim.notify(("orchflow: agent %s (%s) %s: %s"):format(a.id, a.type, a.state, a.command or ""), vim.log.levels.INFO)
  end))
end

local function worktree_text(w)
  return ("%s on %s (from %s), port %d"):format(w.path, w.branch, w.base, w.port)
end

--- :Orchflow agent worktree {type} [cmd]: agent.new with worktree = true.
function M.agent_worktree(args, info)
  need(args, 1, ":Orchflow agent worktree {type} [cmd]")
  local agent_type, command = word_and_text(args, info)
  local params = { type = agent_type, cwd = vim.fn.getcwd(), worktree = true }
  if command ~= "" then
    params.command = command
  end
  vim.notify("orchflow: making a worktree for a " .. agent_type .. " agent…", vim.log.levels.INFO)
  call("agent.new", params, with_result(function(a)
    vim.notify(
      ("orchflow: agent %s (%s) in %s"):format(a.name or a.id, a.type, worktree_text(a.worktree)),
      vim.log.levels.INFO
    )
  end), { timeout_s = worktree_timeout() })
end

--- :Orchflow agent remove {id}: agent.stop with remove_worktree = true.
function M.agent_remove(args)
  need(args, 1, ":Orchflow agent remove {id}")
  call("agent.stop", { id = args[1], remove_worktree = true }, with_result(function(a)
    local w = a.worktree or {}
    local branch = w.branch_deleted and ("branch " .. w.branch .. " deleted") or (w.branch_kept or "")
    vim.notify(("orchflow: agent %s stopped, worktree removed; %s"):format(args[1], branch), vim.log.levels.INFO)
  end), { timeout_s = worktree_timeout() })
end

--- :Orchflow agent cleanup: remove the worktrees no agent uses any more.
function M.agent_cleanup()
  call("agent.cleanup", { cwd = vim.fn.getcwd() }, with_result(function(res)
    local lines = {}
    for _, r in ipairs(res.removed) do
      local branch = r.branch_deleted and ("branch " .. r.branch .. " deleted") or (r.branch_kept or "")
      lines[#lines + 1] = ("removed %s; %s"):format(r.path, branch)
    end
    for _, k in ipairs(res.kept) do
      lines[#lines + 1] = ("kept %s: %s"):format(k.path, k.why)
    end
    if #lines == 0 then
      lines[1] = "no orphan worktrees"
    end
    vim.notify("orchflow: " .. table.concat(lines, "\n"), vim.log.levels.INFO)
  end), { timeout_s = worktree_timeout() })
end

--- :Orchflow agent list: the live agents float (lua/orchflow/agents.lua).
function M.agent_list()
  return require("orchflow.agents").open()
end

function M.agent_send(args, info)
  need(args, 2, ":Orchflow agent send {id} {text}")
  local id, text = word_and_text(args, info)
  call("agent.send", { id = id, text = text }, function(err)
    host.report(err)
  end)
end

function M.agent_stop(args)
  need(args, 1, ":Orchflow agent stop {id}")
  call("agent.stop", { id = args[1] }, with_result(function()
    vim.notify("orchflow: agent " .. args[1] .. " stopped", vim.log.levels.INFO)
  end))
end

local views = {} ---@type table<string, { buf: integer, chan: integer }>  by agent id
-- Output can arrive before the stream.subscribe reply that says which canonical id a
-- name stands for: while a subscription is pending, events for unknown ids wait here.
local pending, early = 0, {} ---@type integer, table<string, table[]>
local EARLY_MAX = 256 -- events kept per id

local function deliver(v, name, ev)
  if not vim.api.nvim_buf_is_valid(v.buf) then
    return
  end
  if name == "agent.output_end" then
    vim.api.nvim_chan_send(v.chan, ("\r\n[stream ended: %s]\r\n"):format(ev.reason or "closed"))
    return
  end
  if ev.dropped_bytes then
    vim.api.nvim_chan_send(v.chan, ("\r\n[orchflow: %d bytes of output dropped]\r\n"):format(ev.dropped_bytes))
  end
  vim.api.nvim_chan_send(v.chan, ev.data or "")
end

local function on_stream(name)
  return function(ev)
    local v = views[ev.id]
    if v then
      deliver(v, name, ev)
      if name == "agent.output_end" then
        views[ev.id] = nil
      end
    elseif pending > 0 and ev.id then
      local list = early[ev.id] or {}
      early[ev.id] = list
      if #list < EARLY_MAX then
        list[#list + 1] = { name, ev }
      end
    end
  end
end
events.on("agent.output", on_stream("agent.output"))
events.on("agent.output_end", on_stream("agent.output_end"))

--- A live float of the agent's output. stream.subscribe replays what the pane has
--- buffered, then streams; the float exists before the subscription so nothing is missed.
--- When the stream ends (the agent's pane closed, the orchestrator went away) the float
--- stays open and says so on its last line: "[stream ended: <reason>]".
function M.agent_output(args)
  need(args, 1, ":Orchflow agent output {id}")
  call("agent.get", { id = args[1] }, with_result(function(a)
    if a.transport == "acp" then
      return require("orchflow.ai").output(a) -- the session/update stream as text
    end
    M.pane_output(args)
  end))
end

--- A pane agent's live output (the terminal's bytes).
function M.pane_output(args)
  local id = args[1]
  local win, buf = require("orchflow.float").open({}, { title = "agent: " .. id, footer = "q close" })
  local chan = vim.api.nvim_open_term(buf, {})
  views[id] = { buf = buf, chan = chan }
  local subscribed = nil
  pending = pending + 1
  call("agent.subscribe", { id = id }, function(err, res)
    pending = pending - 1
    local waiting = res and early[res.id] or {}
    if pending == 0 then
      early = {}
    elseif res then
      early[res.id] = nil
    end
    if err then
      views[id] = nil
      if vim.api.nvim_win_is_valid(win) then
        vim.api.nvim_win_close(win, true)
      end
      return host.report(err)
    end
    subscribed = res.id
    if res.id ~= id then -- a name was given: notifications carry the canonical id
      views[res.id], views[id] = views[id], nil
    end
    for _, item in ipairs(waiting) do
      on_stream(item[1])(item[2])
    end
  end)
  vim.api.nvim_create_autocmd({ "BufWipeout", "BufHidden" }, {
    buffer = buf,
    once = true,
    callback = function()
      local key = subscribed or id
      if views[key] then -- not after the stream ended: nothing to unsubscribe from
        views[key] = nil
        call("agent.unsubscribe", { id = key }, function() end)
      end
    end,
  })
  return win
end

--- The agent names of a registry file ([agents.<name>] tables).
local function registry_names(path, into)
  local ok, lines = pcall(vim.fn.readfile, path)
  for _, line in ipairs(ok and lines or {}) do
    local name = line:match("^%s*%[agents%.([%w_-]+)%]")
    if name and not vim.tbl_contains(into, name) then
      into[#into + 1] = name
    end
  end
  return into
end

function M.complete_agent_types(_, rest)
  if #rest == 0 then
    return M.agent_types
  end
  if #rest == 1 and rest[1] == "ai" then -- the shipped registry, then config.toml's tables
    local root = require("orchflow.config").root()
    local names = registry_names(root .. "/orchestrator/agents/registry.toml", {})
    local config = vim.env.ORCHFLOW_CONFIG
      or ((vim.env.XDG_CONFIG_HOME or vim.fn.expand("~/.config")) .. "/orchflow/config.toml")
    return registry_names(config, names)
  end
  return {}
end

-- memory -----------------------------------------------------------------------
function M.memory_store(args, info)
  need(args, 2, ":Orchflow memory store {key} {value}")
  local key, value = word_and_text(args, info)
  call("memory.store", { key = key, value = value }, with_result(function(e)
    vim.notify(("orchflow: stored %s in %s"):format(e.key, e.namespace or "default"), vim.log.levels.INFO)
  end))
end

function M.memory_search(args)
  need(args, 1, ":Orchflow memory search {query}")
  local query = table.concat(args, " ")
  call("memory.search", { query = query }, with_result(function(res)
    local hits = res.results or res
    local lines = {}
    for _, h in ipairs(hits) do
      local value = type(h.value) == "string" and h.value or vim.json.encode(h.value)
      lines[#lines + 1] = ("%-20s %s"):format(h.key, (value:gsub("\n", " ")))
    end
    if #lines == 0 then
      lines[1] = ("nothing in memory matches %q"):format(query)
    end
    show(lines, "memory: " .. query)
  end))
end

return M
