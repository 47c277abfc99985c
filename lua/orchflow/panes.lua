-- The sessions and panes orchflow knows, kept true by applying the payloads of the
-- host's events instead of asking again: pane.created/state/closed carry the whole
-- pane record (every field is copied, so fields the host adds flow through), session
-- events carry names. One list seeds it (pane.list, or the dashboard's session.list);
-- listeners (the dashboard, the statusline) hear about every change.
local M = {}

local events = require("orchflow.events")

local model = {
  seeded = false, -- a full list has been applied since the host started
  seeding = false,
  panes = {}, ---@type table<string, table> orchflow id -> pane record (+ last_line)
  sessions = {}, ---@type table<string, { name: string, current: boolean }>
  stale = {}, ---@type table<string, boolean> pane_id -> printed since its last line was read
}
local listeners = {} ---@type table<integer, fun(what: string)>
local next_listener = 0

local function changed(what)
  for _, fn in pairs(listeners) do
    fn(what)
  end
end

--- Call `fn(what)` after each change; what is "panes" (records or sessions changed) or
--- "stale" (a pane printed: only its last line is out of date). Returns an unsubscriber.
function M.on_change(fn)
  next_listener = next_listener + 1
  local id = next_listener
  listeners[id] = fn
  return function()
    listeners[id] = nil
  end
end

local fmt = require("orchflow.fmt")
local present = fmt.present

local function find(ref)
  if not present(ref) then
    return nil
  end
  local rec = model.panes[ref]
  if rec then
    return rec
  end
  for _, p in pairs(model.panes) do
    if p.pane_id == ref then
      return p
    end
  end
end
M.find = find

local function ensure_session(name)
  if present(name) and not model.sessions[name] then
    model.sessions[name] = { name = name, current = false }
  end
end

local function make_current(name)
  for _, s in pairs(model.sessions) do
    s.current = s.name == name
  end
end

--- Insert or replace a pane from a whole record (a copy of every field).
local function upsert(data)
  if type(data) ~= "table" or not present(data.id) then
    return false
  end
  local old = find(data.id) or find(data.pane_id)
  if old and old.id ~= data.id then
    model.panes[old.id] = nil
  end
  local rec = vim.deepcopy(data)
  if rec.last_line == nil and old then
    rec.last_line = old.last_line
  end
  model.panes[rec.id] = rec
  ensure_session(rec.session)
  return true
end

local function remove(data)
  local rec = type(data) == "table" and (find(data.id) or find(data.pane_id)) or nil
  if rec then
    model.panes[rec.id] = nil
    model.stale[rec.pane_id] = nil
  end
end

local function mark_stale(pane_id)
  if present(pane_id) and find(pane_id) then
    model.stale[pane_id] = true
    return true
  end
  return false
end

--- A command ended (command.finished; run.finished where the host sends that): a
--- whole pane record in it is applied, its exit code and command are copied onto the
--- pane, and the pane's last line is out of date.
local function finished(data)
  if type(data) ~= "table" then
    return
  end
  if type(data.pane) == "table" then
    upsert(data.pane)
  end
  local pane_id = type(data.pane) == "table" and data.pane.pane_id or data.pane or data.pane_id
  local rec = find(pane_id)
  if not rec then
    return
  end
  if data.exit_code ~= nil then
    rec.exit_code = data.exit_code
  end
  if type(data.command) == "string" then
    rec.last_command = data.command
  end
  model.stale[rec.pane_id] = true
  changed("panes")
end

local seed_panes -- forward

--- Fetch pane.list once when events arrive before any list did (so counts are whole).
local function seed_once()
  if model.seeded or model.seeding or not require("orchflow.host").running() then
    return
  end
  model.seeding = true
  require("orchflow.host").call("pane.list", {}, function(err, list)
    model.seeding = false
    if not err then
      seed_panes(list)
    end
  end)
end

local handlers = {
  ["pane.created"] = function(data)
    if upsert(data) then
      make_current(data.session) -- the host puts new panes in its current session
    end
    return "panes"
  end,
  ["pane.state"] = function(data)
    return upsert(data) and "panes"
  end,
  ["pane.closed"] = function(data)
    remove(data)
    return "panes"
  end,
  ["command.finished"] = function(data)
    finished(data)
  end,
  ["run.finished"] = function(data)
    finished(data)
  end,
  ["pane.output"] = function(data)
    return mark_stale(data.pane_id) and "stale"
  end,
  ["session.created"] = function(data)
    ensure_session(data.name)
    make_current(data.name)
    return "panes"
  end,
  ["session.renamed"] = function(data)
    local s = model.sessions[data.old]
    model.sessions[data.old] = nil
    if present(data.new) then
      model.sessions[data.new] = { name = data.new, current = s ~= nil and s.current }
    end
    for _, p in pairs(model.panes) do
      if p.session == data.old then
        p.session = data.new
      end
    end
    return "panes"
  end,
  ["session.closed"] = function(data)
    model.sessions[data.name] = nil
    for id, p in pairs(model.panes) do
      if p.session == data.name then
        model.panes[id] = nil
        model.stale[p.pane_id] = nil
      end
    end
    return "panes"
  end,
  ["tmux.lost"] = function()
    model.seeded = false -- what the new server has is only known by asking
    seed_once()
  end,
}

--- Apply one event's payload (exposed for tests).
function M.apply(name, data)
  local handler = handlers[name]
  if not handler then
    return
  end
  local what = handler(type(data) == "table" and data or {})
  if name ~= "pane.output" then
    seed_once()
  end
  if what then
    changed(what)
  end
end

for name in pairs(handlers) do
  events.on(name, function(data)
    M.apply(name, data)
  end)
end

--- Replace the panes with `list` (pane.list's answer).
seed_panes = function(list)
  model.panes, model.stale = {}, {}
  for _, p in ipairs(list or {}) do
    upsert(p)
  end
  model.seeded = true
  changed("panes")
end
M.seed_panes = seed_panes

--- Replace sessions and panes with `sessions` (session.list's answer).
function M.seed_sessions(sessions)
  model.panes, model.sessions, model.stale = {}, {}, {}
  for _, s in ipairs(sessions or {}) do
    model.sessions[s.name] = { name = s.name, current = s.current == true }
    for _, p in ipairs(s.panes or {}) do
      upsert(p)
    end
  end
  model.seeded = true
  changed("panes")
end

function M.seeded()
  return model.seeded
end

local function by_session_then_id(a, b)
  if a.session ~= b.session then
    return tostring(a.session) < tostring(b.session)
  end
  return tostring(a.pane_id) < tostring(b.pane_id)
end

--- Every known pane, ordered as the host orders them (session, then pane id).
function M.list()
  local out = {}
  for _, p in pairs(model.panes) do
    out[#out + 1] = p
  end
  table.sort(out, by_session_then_id)
  return out
end

--- Every known session by name, each { name, current, panes }.
function M.sessions()
  local by_name = {}
  for name, s in pairs(model.sessions) do
    by_name[name] = { name = name, current = s.current, panes = {} }
  end
  for _, p in ipairs(M.list()) do
    local s = by_name[p.session]
    if s then
      s.panes[#s.panes + 1] = p
    end
  end
  local out = vim.tbl_values(by_name)
  table.sort(out, function(a, b)
    return a.name < b.name
  end)
  return out
end

--- Is the last line of `pane_id` out of date?
function M.is_stale(pane_id)
  return model.stale[pane_id] == true
end

--- Apply { [pane_id] = last line } (pane.last_lines' answer).
function M.set_last_lines(lines)
  local any = false
  for pane_id, line in pairs(lines or {}) do
    local rec = find(pane_id)
    if rec and rec.last_line ~= line then
      rec.last_line = line
      any = true
    end
  end
  if any then
    changed("panes")
  end
end

--- Mark panes' last lines as read (before asking for them).
function M.clear_stale(pane_ids)
  for _, id in ipairs(pane_ids) do
    model.stale[id] = nil
  end
end

return M
