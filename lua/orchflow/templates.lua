-- :Orchflow template … : session templates (tmuxp/tmuxinator files; orchflow_core/templates/).
local M = {}

local host = require("orchflow.host")

local known = {} -- names from the last template.list, for completion

local need = require("orchflow.args").need

local function counts(c)
  return ("%d window(s), %d pane(s)"):format(c.windows, c.panes)
end

local function path_or_name(word)
  -- a word with a slash or a file extension is a file, anything else a saved template
  if word:find("/") or word:match("%.ya?ml$") or word:match("%.json$") then
    return { path = vim.fn.fnamemodify(vim.fn.expand(word), ":p") }
  end
  return { name = word }
end

--- :Orchflow template list
function M.list()
  host.call("template.list", {}, function(err, res)
    if err then
      return host.report(err)
    end
    known = {}
    local lines = { ("orchflow templates in %s:"):format(res.dir) }
    for _, t in ipairs(res.templates) do
      table.insert(known, t.name)
      if t.error then
        table.insert(lines, ("  %s  (unreadable: %s)"):format(t.name, t.error))
      else
        table.insert(lines, ("  %s  %s"):format(t.name, counts(t)))
      end
    end
    if #res.templates == 0 then
      table.insert(lines, "  (none: :Orchflow template save or import makes one)")
    end
    vim.notify(table.concat(lines, "\n"), vim.log.levels.INFO)
  end)
end

--- :Orchflow template apply {name|file} [session]
function M.apply(args)
  need(args, 1, ":Orchflow template apply {name|file} [session]")
  local params = path_or_name(args[1])
  params.session = args[2]
  host.call("template.apply", params, function(err, res)
    if err then
      return host.report(err)
    end
    local msg = ("orchflow: session %s: created %s; %s already there"):format(
      res.session,
      counts(res.created),
      counts(res.existing)
    )
    local level = vim.log.levels.INFO
    if #res.drift > 0 then
      level = vim.log.levels.WARN
      msg = msg .. ("; %d drift(s):"):format(#res.drift)
      for _, d in ipairs(res.drift) do
        msg = msg
          .. ("\n  window %s pane %s: %s is %s, template says %s"):format(
            d.window,
            tostring(d.pane or "-"),
            d.field,
            vim.inspect(d.live),
            vim.inspect(d.template)
          )
      end
    end
    vim.notify(msg, level)
  end)
end

--- :Orchflow template save {session} [name]
function M.save(args)
  need(args, 1, ":Orchflow template save {session} [name]")
  host.call("template.save", { session = args[1], name = args[2] }, function(err, res)
    if err then
      return host.report(err)
    end
    vim.notify(("orchflow: template %s saved (%s) to %s"):format(res.name, counts(res), res.path))
  end)
end

--- :Orchflow template freeze {session} {file}
function M.freeze(args)
  need(args, 2, ":Orchflow template freeze {session} {file}")
  local file = vim.fn.fnamemodify(vim.fn.expand(args[2]), ":p")
  host.call("template.freeze", { session = args[1], path = file }, function(err, res)
    if err then
      return host.report(err)
    end
    vim.notify(("orchflow: %s written (%s); tmuxp load reads it"):format(res.path, counts(res)))
  end)
end

--- :Orchflow template import {file} [name]
function M.import(args)
  need(args, 1, ":Orchflow template import {file} [name]")
  local file = vim.fn.fnamemodify(vim.fn.expand(args[1]), ":p")
  host.call("template.import", { path = file, name = args[2] }, function(err, res)
    if err then
      return host.report(err)
    end
    vim.notify(("orchflow: template %s imported (%s)"):format(res.name, counts(res)))
  end)
end

local function when(ts)
  return os.date("%Y-%m-%d %H:%M:%S", math.floor(ts))
end

--- :Orchflow template snapshot : snapshot every session's layout now
function M.snapshot()
  host.call(
    "template.snapshot",
    {},
    host.with_result(function(res)
      local parts = {}
      for _, s in ipairs(res.snapshots) do
        table.insert(parts, ("%s (%s)"):format(s.session, counts(s)))
      end
      vim.notify(
        ("orchflow: snapshot of %s"):format(#parts > 0 and table.concat(parts, ", ") or "no session (none runs)")
      )
    end)
  )
end

--- :Orchflow template snapshots [session] : the saved snapshots, newest first
function M.snapshots(args)
  host.call(
    "template.snapshots",
    { session = args[1] },
    host.with_result(function(res)
      local every = res.snapshot_minutes ~= vim.NIL and res.snapshot_minutes
      local lines = {
        every and ("every %s minute(s) (templates.snapshot_minutes)"):format(every)
          or "periodic snapshots are off (templates.snapshot_minutes)",
      }
      for _, s in ipairs(res.snapshots) do
        table.insert(lines, ("%5d  %s  %-20s %s"):format(s.id, when(s.taken_at), s.session, counts(s)))
      end
      if #res.snapshots == 0 then
        table.insert(lines, "(none yet: :Orchflow template snapshot takes one)")
      end
      require("orchflow.float").open(lines, { title = "orchflow snapshots", fit = true })
    end)
  )
end

--- :Orchflow template restore [snapshot id | session] : bring sessions back from a snapshot
function M.restore(args)
  local params = {}
  if args[1] and args[1]:match("^%d+$") then
    params.snapshot = tonumber(args[1])
  else
    params.session = args[1]
  end
  host.call(
    "template.restore",
    params,
    host.with_result(function(res)
      local parts = {}
      for _, r in ipairs(res.restored) do
        table.insert(
          parts,
          ("%s from snapshot %d: created %s; %s already there"):format(
            r.session,
            r.snapshot,
            counts(r.created),
            counts(r.existing)
          )
        )
      end
      vim.notify("orchflow: restored " .. table.concat(parts, "; "))
    end)
  )
end

function M.complete_templates(lead, rest)
  if #rest > 0 then
    return require("orchflow.terminal").complete_sessions(lead, {})
  end
  host.call("template.list", {}, function(err, res)
    if not err then
      known = vim.tbl_map(function(t)
        return t.name
      end, res.templates)
    end
  end)
  local out = vim.deepcopy(known)
  vim.list_extend(out, vim.fn.getcompletion(lead, "file"))
  return out
end

function M.complete_sessions(lead, rest)
  if #rest > 0 then
    return {}
  end
  return require("orchflow.terminal").complete_sessions(lead, {})
end

return M
