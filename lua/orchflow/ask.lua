-- :Orchflow ask {text}: route a request (ai.route on the host or the orchestrator), show
-- the agent, command, confidence and reason in a float, and let the user run it (in a new
-- pane of that type), edit it first (vim.ui.input) or reject it. Each choice is sent back
-- as ai.feedback, so the router learns this project's phrasings.
local M = {}

local host = require("orchflow.host")

local fmt = require("orchflow.fmt")
local present = fmt.present

local function text_of(v, none)
  return present(v) and tostring(v) or none
end

--- The float's lines for a route result.
function M.lines(input, r)
  local lines = {
    "Request     " .. input,
    "Agent       " .. text_of(r.agent_type, "none (nothing fits)"),
    "Command     " .. text_of(r.suggested_command, "none"),
    ("Confidence  %.2f"):format(tonumber(r.confidence) or 0),
    "Reason      " .. text_of(r.reason, ""),
  }
  if type(r.alternatives) == "table" and #r.alternatives > 0 then
    local alts = {}
    for _, a in ipairs(r.alternatives) do
      alts[#alts + 1] = ("%s (%s, %.2f)"):format(a.agent_type, text_of(a.command, "no command"), tonumber(a.confidence) or 0)
    end
    lines[#lines + 1] = "Also        " .. table.concat(alts, "; ")
  end
  return lines
end

local function feedback(input, cwd, verdict, agent_type, command)
  host.call("ai.feedback", {
    input = input,
    context = { cwd = cwd },
    verdict = verdict,
    agent_type = present(agent_type) and agent_type or nil,
    command = present(command) and command or nil,
  }, function(err)
    if err then
      host.report(err)
    end
  end)
end

-- Pane types the terminal manager knows; ai work has no pane type of its own here.
local PANE_TYPES = { dev = true, test = true, repl = true, build = true, lint = true }

-- A new pane of that type (a shell in it), then the command typed as a run (exit code,
-- history), both through the rules.
local function run(agent_type, command, cwd)
  local kind = PANE_TYPES[agent_type] and agent_type or "shell"
  host.call("pane.new", { type = kind, cwd = cwd }, function(err, p)
    if err then
      return host.report(err)
    end
    require("orchflow.terminal").refresh()
    require("orchflow.rules").call("pane.run", { pane = p.pane_id, cmd = command }, function(e, res)
      if e then
        return host.report(e)
      end
      if res then
        vim.notify(("orchflow: running %s in %s [%s]"):format(command, p.pane_id, kind))
      end
    end)
  end)
end

local function close(win)
  if vim.api.nvim_win_is_valid(win) then
    vim.api.nvim_win_close(win, true)
  end
end

--- Show a routed request with its keys. Exposed for tests.
function M.show(input, cwd, r)
  local win, buf = require("orchflow.float").open(M.lines(input, r), {
    title = "orchflow ask",
    footer = "<CR> run  e edit  x reject  q close",
    fit = true,
    width = 0.9,
  })
  local agent_type, command = r.agent_type, r.suggested_command
  local function map(key, fn, desc)
    vim.keymap.set("n", key, fn, { buffer = buf, nowait = true, desc = "orchflow ask: " .. desc })
  end
  map("<CR>", function()
    if not present(command) then
      local why = agent_type == "ai" and "work for an AI agent has no command to run here"
        or "nothing to run"
      return vim.notify(("orchflow: %s; e gives one"):format(why), vim.log.levels.WARN)
    end
    close(win)
    feedback(input, cwd, "accept", agent_type, command)
    run(agent_type, command, cwd)
  end, "run")
  map("e", function()
    close(win)
    vim.ui.input({ prompt = "command: ", default = text_of(command, "") }, function(edited)
      if edited == nil or vim.trim(edited) == "" then
        return vim.notify("orchflow: ask: nothing run", vim.log.levels.INFO)
      end
      edited = vim.trim(edited)
      local kind = present(agent_type) and agent_type ~= "ai" and agent_type or nil
      feedback(input, cwd, "edit", kind, edited)
      run(kind, edited, cwd)
    end)
  end, "edit, then run")
  map("x", function()
    close(win)
    feedback(input, cwd, "reject", agent_type, command)
    vim.notify("orchflow: ask: rejected (noted for this project)")
  end, "reject")
  return win, buf
end

-- :Orchflow ask {agent} {text}: {file}, {selection}, {line}, {diagnostics}, {quickfix} and
-- {buffers} become references in the agent's own syntax (the registry's file_ref, e.g.
-- "@{path}#L{start}-{end}" for Claude), on one line (a typed newline would submit a TUI's
-- prompt), and the text goes to the agent with agent.prompt.
local PLACEHOLDERS = { "{file}", "{selection}", "{line}", "{diagnostics}", "{quickfix}", "{buffers}" }
local DEFAULT_REF = "{path}:{start}-{end}" -- agents without a registry entry
local MAX_ITEMS = 20

local function literal(s)
  return (tostring(s):gsub("%%", "%%%%"))
end

--- `path` (with lines `s`..`e` when given) in the reference format `fmt`.
function M.ref(fmt, path, s, e)
  if s == nil then
    fmt = fmt:gsub("[^{}]*{start}.*$", "") -- "@{path}#L{start}-{end}" -> "@{path}"
  elseif s == e then
    fmt = fmt:gsub("{start}%-{end}", "{start}")
  end
  local out = fmt:gsub("{path}", literal(path))
  if s ~= nil then
    out = out:gsub("{start}", literal(s)):gsub("{end}", literal(e))
  end
  return out
end

local function rel(name)
  return vim.fn.fnamemodify(name, ":.")
end

local function one_line(s)
  return vim.trim((s or ""):gsub("%s+", " "))
end

--- The editor's state the placeholders read: the current buffer, its file, the cursor line
--- and the selected range (`range = { s, e }` from visual mode), taken when asked.
function M.context(range)
  local buf = vim.api.nvim_get_current_buf()
  local name = vim.api.nvim_buf_get_name(buf)
  return {
    buf = buf,
    path = name ~= "" and vim.bo[buf].buftype == "" and rel(name) or nil,
    line = vim.api.nvim_win_get_cursor(0)[1],
    range = range,
  }
end

local SEVERITY = { "error", "warning", "info", "hint" }

local function expanders(fmt, ctx)
  local function need_file(what)
    if not ctx.path then
      error(("orchflow: ask: %s needs a buffer with a file (this one has none)"):format(what), 0)
    end
    return ctx.path
  end
  return {
    ["{file}"] = function()
      return M.ref(fmt, need_file("{file}"))
    end,
    ["{line}"] = function()
      return M.ref(fmt, need_file("{line}"), ctx.line, ctx.line)
    end,
    ["{selection}"] = function()
      if not ctx.range then
        error("orchflow: ask: {selection} needs a selection: use <Plug>(orchflow-ask) from visual mode", 0)
      end
      return M.ref(fmt, need_file("{selection}"), ctx.range[1], ctx.range[2])
    end,
    ["{diagnostics}"] = function()
      local items = {}
      for _, d in ipairs(vim.diagnostic.get(ctx.buf)) do
        if #items >= MAX_ITEMS then
          break
        end
        local where = ctx.path and M.ref(fmt, ctx.path, d.lnum + 1, d.lnum + 1) or ("line " .. (d.lnum + 1))
        items[#items + 1] = ("%s %s: %s"):format(where, SEVERITY[d.severity] or "note", one_line(d.message))
      end
      return #items > 0 and table.concat(items, "; ") or "(no diagnostics)"
    end,
    ["{quickfix}"] = function()
      local items = {}
      for _, q in ipairs(vim.fn.getqflist()) do
        if #items >= MAX_ITEMS then
          break
        end
        local name = q.bufnr > 0 and vim.api.nvim_buf_get_name(q.bufnr) or ""
        local where = name ~= "" and M.ref(fmt, rel(name), q.lnum, q.lnum) or ""
        items[#items + 1] = vim.trim(where .. " " .. one_line(q.text))
      end
      return #items > 0 and table.concat(items, "; ") or "(quickfix list empty)"
    end,
    ["{buffers}"] = function()
      local refs = {}
      for _, b in ipairs(vim.api.nvim_list_bufs()) do
        local name = vim.api.nvim_buf_get_name(b)
        if vim.bo[b].buflisted and vim.bo[b].buftype == "" and name ~= "" and #refs < MAX_ITEMS then
          refs[#refs + 1] = M.ref(fmt, rel(name))
        end
      end
      return table.concat(refs, " ")
    end,
  }
end

--- `text` with its placeholders expanded for an agent whose file references look like
--- `fmt`; with none in it, the active mode's default context is added (what applies).
function M.expand(text, fmt, ctx, mode_context)
  local fns = expanders(fmt or DEFAULT_REF, ctx)
  local has = false
  for _, p in ipairs(PLACEHOLDERS) do
    has = has or text:find(p, 1, true) ~= nil
  end
  if not has and mode_context then
    for _, p in ipairs(mode_context) do
      local ok, value = pcall(fns[p] or function()
        error("")
      end)
      if ok and value ~= "" and not value:match("^%(") then
        text = text .. " " .. value
      end
    end
    return text
  end
  return (text:gsub("{%a+}", function(p)
    local fn = fns[p]
    return fn and fn() or nil -- a function's result is used as it is (no % escapes)
  end))
end

-- The agent `ref` names (id or name) among agent.list's, or nil.
local function find_agent(agents, ref)
  for _, a in ipairs(agents or {}) do
    if a.id == ref or a.name == ref then
      return a
    end
  end
end

local function send_to_agent(agent, text, ctx)
  local function go(fmt)
    local modes = package.loaded["orchflow.modes"]
    local ok, expanded = pcall(M.expand, text, fmt, ctx, modes and modes.active_context() or nil)
    if not ok then
      return vim.notify(tostring(expanded), vim.log.levels.ERROR)
    end
    host.call("agent.prompt", { id = agent.id, text = expanded }, function(err, res)
      if err then
        return host.report(err)
      end
      local shown = #expanded > 60 and (expanded:sub(1, 57) .. "...") or expanded
      local mode = present(res.mode) and (" [mode " .. res.mode .. "]") or ""
      vim.notify(("orchflow: asked %s%s: %s"):format(agent.name or agent.id, mode, shown), vim.log.levels.INFO)
    end)
  end
  if agent.type ~= "ai" or not present(agent.agent) then
    return go(nil)
  end
  host.call("agent.registry", {}, function(err, entries)
    local fmt = nil
    for _, e in ipairs(not err and entries or {}) do
      if e.name == agent.agent then
        fmt = e.file_ref
      end
    end
    go(fmt)
  end)
end

local function route(text, cwd)
  host.call("ai.route", { input = text, context = { cwd = cwd } }, function(err, r)
    if err then
      return host.report(err)
    end
    M.show(text, cwd, r)
  end)
end

--- The request: `{agent} {text}` when its first word names a running agent (then the
--- placeholders are expanded and it is that agent's prompt), else routed (ai.route).
function M.dispatch(input, ctx)
  local cwd = vim.fn.getcwd()
  local first, rest = input:match("^(%S+)%s+(.+)$")
  if not first then
    return route(input, cwd)
  end
  host.call("agent.list", {}, function(err, agents)
    local agent = not err and find_agent(agents, first) or nil
    if agent then
      return send_to_agent(agent, vim.trim(rest), ctx)
    end
    route(input, cwd)
  end)
end

--- :Orchflow ask [{agent}] {text}
function M.open(args, info)
  local input = vim.trim(require("orchflow.args").rest(args, info) or "")
  local ctx = M.context(nil)
  local function go(text)
    if text == nil or vim.trim(text) == "" then
      return vim.notify("orchflow: ask needs a request: :Orchflow ask [{agent}] {text}", vim.log.levels.ERROR)
    end
    M.dispatch(vim.trim(text), ctx)
  end
  if input == "" then
    return vim.ui.input({ prompt = "orchflow ask: " }, go)
  end
  go(input)
end

--- <Plug>(orchflow-ask) in visual mode: the selected lines fill {selection} ({file} and the
--- line range); asks for "{agent} {text}" ({selection} is added when the text has none).
function M.visual()
  local s, e = vim.fn.line("v"), vim.fn.line(".")
  if s > e then
    s, e = e, s
  end
  vim.cmd("normal! " .. vim.keycode("<Esc>")) -- leave visual mode ('< '> are set)
  local ctx = M.context({ s, e })
  vim.ui.input({ prompt = ("orchflow ask {agent} {text} (lines %d-%d): "):format(s, e) }, function(text)
    if text == nil or vim.trim(text) == "" then
      return
    end
    text = vim.trim(text)
    if not text:find("{selection}", 1, true) then
      text = text .. " {selection}"
    end
    M.dispatch(text, ctx)
  end)
end

return M
