-- :Orchflow session … and :Orchflow pane … : argument parsing, pickers for a
-- missing pane, and a cache of known panes for completion (fed by events).
local M = {}

local host = require("orchflow.host")

M.types = { "shell", "dev", "test", "repl", "build", "lint", "agent", "custom" }

-- Known panes (for completion, pickers and the statusline) live in orchflow.panes,
-- which applies the host's events to them.
local panes = require("orchflow.panes")

function M.known_panes()
  return panes.list()
end

local function session_names()
  return vim.tbl_map(function(s)
    return s.name
  end, panes.sessions())
end

--- Refresh the known panes from the host (one pane.list); `cb(panes)` optional.
function M.refresh(cb)
  host.call("pane.list", {}, function(err, list)
    if err then
      return host.report(err)
    end
    panes.seed_panes(list)
    if cb then
      cb(list)
    end
  end)
end

--- Seed the known panes if nothing has yet (completion: a short bounded wait).
local function ensure_known()
  if not panes.seeded() and host.running() then
    pcall(function()
      panes.seed_panes(host.wait("pane.list", {}, 300))
    end)
  end
end

local function pane_label(p)
  local label = p.name ~= "" and p.name or p.pane_id
  return ("%s  [%s] %s"):format(label, p.type, p.state)
end

--- Use `ref` when given, else let the user pick a pane; then `fn(ref)`.
local function with_pane(ref, fn)
  if ref and ref ~= "" then
    return fn(ref)
  end
  M.refresh(function(panes)
    if #panes == 0 then
      return vim.notify("orchflow: no panes yet; :Orchflow pane new", vim.log.levels.WARN)
    end
    vim.ui.select(panes, { prompt = "orchflow pane", format_item = pane_label }, function(p)
      if p then
        fn(p.pane_id)
      end
    end)
  end)
end

local function ok_notify(fmt)
  return function(err, res)
    if err then
      return host.report(err)
    end
    vim.notify(fmt(res), vim.log.levels.INFO)
  end
end

local need = require("orchflow.args").need

-- sessions ---------------------------------------------------------------------
function M.session_new(args)
  need(args, 1, ":Orchflow session new {name}")
  host.call("session.new", { name = args[1], cwd = vim.fn.getcwd() }, ok_notify(function(s)
    return "orchflow: session " .. s.name .. " created"
  end))
end

function M.session_switch(args)
  need(args, 1, ":Orchflow session switch {name}")
  host.call("session.switch", { name = args[1] }, ok_notify(function(s)
    return "orchflow: new panes go to session " .. s.name
  end))
end

function M.session_rename(args)
  need(args, 2, ":Orchflow session rename {old} {new}")
  host.call("session.rename", { old = args[1], new = args[2] }, ok_notify(function(s)
    return "orchflow: session renamed to " .. s.name
  end))
end

function M.session_kill(args)
  need(args, 1, ":Orchflow session kill {name}")
  host.call("session.kill", { name = args[1] }, ok_notify(function(s)
    return "orchflow: session " .. s.name .. " killed"
  end))
end

-- panes ------------------------------------------------------------------------
--- :Orchflow pane new [type] [cmd]   (a first word that is not a type starts the command;
--- [cmd] is the raw text, as typed)
function M.pane_new(args, info)
  local params = { cwd = vim.fn.getcwd() }
  local raw = require("orchflow.args").rest(args, info)
  local words, cmd = require("orchflow.args").split(raw, 1)
  if words[1] and vim.tbl_contains(M.types, words[1]) then
    params.type = words[1]
  else
    cmd = raw:gsub("^[ \t]+", "")
  end
  if cmd ~= "" then
    params.cmd = cmd
  end
  require("orchflow.rules").call("pane.new", params, function(err, p)
    if err then
      return host.report(err)
    end
    if p then -- nil: a confirm rule asked and the answer was no
      M.refresh()
      vim.notify(("orchflow: pane %s (%s) created"):format(p.pane_id, p.type), vim.log.levels.INFO)
    end
  end)
end

-- The raw text after the pane (as typed: lua/orchflow/args.lua), else asked with
-- vim.ui.input (a cancelled or empty answer does nothing: it must never send a bare <CR>).
local function text_or_ask(text, prompt, fn)
  if text ~= "" then
    return fn(text)
  end
  vim.ui.input({ prompt = prompt }, function(answer)
    if answer and answer ~= "" then
      fn(answer)
    end
  end)
end

-- {pane} and the raw text after it
local function pane_and_text(args, info)
  local words, text = require("orchflow.args").split(require("orchflow.args").rest(args, info), 1)
  return words[1], text
end

function M.pane_send(args, info)
  local pane, text = pane_and_text(args, info)
  with_pane(pane, function(ref)
    text_or_ask(text, "send to " .. ref .. ": ", function(typed)
      require("orchflow.rules").call("pane.send", { pane = ref, text = typed, enter = true })
    end)
  end)
end

function M.pane_run(args, info)
  local pane, text = pane_and_text(args, info)
  with_pane(pane, function(ref)
    text_or_ask(text, "run in " .. ref .. ": ", function(cmd)
      require("orchflow.rules").call("pane.run", { pane = ref, cmd = cmd })
    end)
  end)
end

function M.pane_focus(args)
  with_pane(args[1], function(ref)
    host.call("pane.focus", { pane = ref }, function(err)
      host.report(err)
    end)
  end)
end

function M.pane_close(args)
  with_pane(args[1], function(ref)
    host.call("pane.close", { pane = ref }, ok_notify(function(p)
      M.refresh()
      return ("orchflow: pane %s closed"):format(p.pane_id)
    end))
  end)
end

function M.pane_output(args)
  with_pane(args[1], function(ref)
    require("orchflow.output").open(ref)
  end)
end

--- Open the pane in a Neovim terminal split where the user can type (a tmux client).
function M.pane_attach(args)
  with_pane(args[1], function(ref)
    host.call("pane.attach_command", { pane = ref }, function(err, res)
      if err then
        return host.report(err)
      end
      vim.cmd("botright split")
      local buf = vim.api.nvim_create_buf(true, false)
      vim.api.nvim_win_set_buf(0, buf)
      -- TMUX unset: the client may run inside a tmux-hosted Neovim too.
      vim.fn.jobstart(res.argv, { term = true, env = { TMUX = "" } })
      vim.b[buf].orchflow_pane = res.pane_id
      vim.cmd("startinsert")
    end)
  end)
end

function M.pane_search(args, info)
  text_or_ask(require("orchflow.args").rest(args, info), "search scrollback: ", function(pattern)
    require("orchflow.scrollback").search(pattern)
  end)
end

-- completion -------------------------------------------------------------------
function M.complete_types(_, rest)
  return #rest == 0 and M.types or {}
end

local function pane_refs()
  ensure_known()
  local known = panes.list()
  local count, out = {}, {}
  for _, p in ipairs(known) do
    count[p.name] = (count[p.name] or 0) + 1
  end
  for _, p in ipairs(known) do
    -- a name only where it is unique, else the pane id (both resolve on the host)
    out[#out + 1] = (p.name ~= "" and count[p.name] == 1) and p.name or p.pane_id
  end
  return out
end

function M.complete_panes(_, rest)
  return #rest == 0 and pane_refs() or {}
end

--- :Orchflow pane run {pane} <Tab>: history suggestions for what is typed so far.
function M.complete_run(arglead, rest)
  if #rest == 0 then
    return pane_refs()
  end
  local typed = table.concat(vim.list_slice(rest, 2), " ")
  local prefix = typed == "" and arglead or (typed .. " " .. arglead)
  local out = {}
  for _, cmd in ipairs(require("orchflow.history").suggest(prefix)) do
    -- complete the current word only: Neovim replaces just the argument being typed
    local word = cmd:sub(#prefix - #arglead + 1):match("^%S+")
    if word and not vim.tbl_contains(out, word) then
      out[#out + 1] = word
    end
  end
  return out
end

function M.complete_sessions(_, rest)
  if #rest > 0 then
    return {}
  end
  ensure_known()
  return session_names()
end

local events = require("orchflow.events")
events.on("tmux.lost", function(ev)
  vim.notify(
    ("orchflow: the tmux server went away (%s); started a new one, %d pane(s) closed"):format(ev.reason, ev.closed),
    vim.log.levels.WARN
  )
end)

return M
