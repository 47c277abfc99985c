-- Rules (the Protocol System): every command sent or run in a pane crosses them in
-- orchflow_core (protocol.check|add|list|remove on the host).
-- Here: asking the user when a `confirm` rule answers, the `rule.warned` notification, and
-- the :Orchflow rules float.
local M = {}

local host = require("orchflow.host")

local fmt = require("orchflow.fmt")
local present = fmt.present
local pad = fmt.pad

--- Call `method` for a command the user gave (pane.run, pane.send). When a `confirm`
--- rule answers, ask; on yes the same call goes again with the one-time token the host
--- gave, which fits that exact command only. `cb(err, result)` gets the final answer.
function M.call(method, params, cb)
  cb = cb or function(err)
    host.report(err)
  end
  host.call(method, params, function(err, result)
    local data = err and type(err.data) == "table" and err.data or nil
    if not (data and data.action == "confirm" and present(data.confirm)) then
      return cb(err, result)
    end
    local what = data.command or ""
    if #what > 60 then
      what = what:sub(1, 57) .. "..."
    end
    local why = err.message:gsub("^.-: ", "")
    local prompt = ("orchflow: rule %s: %s. Run %q?"):format(data.rule, why, what)
    vim.ui.select({ "Yes, run it", "No" }, { prompt = prompt, kind = "orchflow.confirm" }, function(choice)
      if choice ~= "Yes, run it" then
        vim.notify(("orchflow: not run (rule %s)"):format(data.rule), vim.log.levels.INFO)
        return cb(nil, nil)
      end
      local again = vim.deepcopy(params)
      again.confirm = data.confirm
      host.call(method, again, cb)
    end)
  end)
end

function M.on_warned(w)
  vim.notify(
    ("orchflow: rule %s: %s (ran in %s: %s)"):format(w.rule, w.message, w.pane_name or w.pane or "?", w.command or ""),
    vim.log.levels.WARN,
    { title = "orchflow" }
  )
end

local attached = false

--- Listen for rule warnings (called when the host starts, never at require time).
function M.attach()
  if attached then
    return
  end
  attached = true
  require("orchflow.events").on("rule.warned", M.on_warned)
end

local function scope_text(scope)
  local parts = {}
  for _, key in ipairs({ "origins", "pane_types", "modes" }) do
    local v = scope and scope[key]
    if type(v) == "table" and #v > 0 then
      parts[#parts + 1] = table.concat(v, ",")
    end
  end
  return #parts > 0 and table.concat(parts, " ") or "all"
end

local function source_text(r)
  if r.source == "default" or r.source == "config" or r.source == "user" then
    return r.source
  end
  local short = vim.fn.fnamemodify(r.source, ":~:.")
  return present(r.line) and (short .. ":" .. r.line) or short
end

--- One line of the float: action, id, scope, source, kind, pattern.
function M.line(r)
  return table.concat({
    pad(r.action, 8),
    pad(r.id, 28),
    pad(scope_text(r.scope), 12),
    pad(source_text(r), 24),
    pad(r.kind, 6),
    r.pattern,
  }, " ")
end

local HL = { block = "OrchflowError", confirm = "OrchflowTitle", warn = "OrchflowDim" }

local function render(listed)
  local lines, hls = {}, {}
  for i, r in ipairs(listed.rules) do
    lines[i] = M.line(r)
    hls[i] = HL[r.action]
  end
  for _, p in ipairs(listed.problems or {}) do
    lines[#lines + 1] = "! " .. p
    hls[#lines] = "OrchflowError"
  end
  return lines, hls
end

local function ask_rule(done)
  vim.ui.input({ prompt = "rule pattern (shell words, e.g. 'rm -rf /'): " }, function(pattern)
    if not pattern or pattern == "" then
      return
    end
    vim.ui.select({ "shell", "regex" }, { prompt = "kind" }, function(kind)
      if not kind then
        return
      end
      vim.ui.select({ "block", "confirm", "warn" }, { prompt = "action" }, function(action)
        if not action then
          return
        end
        vim.ui.input({ prompt = "message: " }, function(message)
          if not message or message == "" then
            return
          end
          host.call(
            "protocol.add",
            { pattern = pattern, kind = kind, action = action, message = message },
            function(err, rule)
              if err then
                return host.report(err)
              end
              vim.notify(("orchflow: rule %s added (%s)"):format(rule.id, rule.action), vim.log.levels.INFO)
              done()
            end
          )
        end)
      end)
    end)
  end)
end

local view = nil ---@type { win: integer, buf: integer, rules: table }?

local function fill(listed)
  if not (view and vim.api.nvim_buf_is_valid(view.buf)) then
    return
  end
  local lines, hls = render(listed)
  view.rules = listed.rules
  vim.bo[view.buf].modifiable = true
  vim.api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
  vim.bo[view.buf].modifiable = false
  local ns = vim.api.nvim_create_namespace("orchflow-rules")
  vim.api.nvim_buf_clear_namespace(view.buf, ns, 0, -1)
  for i, group in pairs(hls) do
    vim.api.nvim_buf_set_extmark(view.buf, ns, i - 1, 0, { end_col = math.min(8, #lines[i]), hl_group = group })
  end
end

local function reload()
  host.call("protocol.list", {}, function(err, listed)
    if err then
      return host.report(err)
    end
    fill(listed)
  end)
end

--- :Orchflow rules
function M.open()
  host.call("protocol.list", {}, function(err, listed)
    if err then
      return host.report(err)
    end
    local win, buf = require("orchflow.float").open({}, {
      title = "orchflow rules",
      footer = "a add  d remove  <CR> message  r reload  q close",
      filetype = "orchflow-rules",
    })
    view = { win = win, buf = buf, rules = {} }
    fill(listed)
    local function current()
      return view and view.rules[vim.api.nvim_win_get_cursor(win)[1]]
    end
    local function map(key, desc, fn)
      vim.keymap.set("n", key, fn, { buffer = buf, nowait = true, desc = "orchflow: " .. desc })
    end
    map("a", "add a rule", function()
      ask_rule(reload)
    end)
    map("r", "read the rules again", reload)
    map("<CR>", "show the rule's message", function()
      local r = current()
      if r then
        vim.notify(("orchflow: rule %s (%s): %s"):format(r.id, r.action, r.message), vim.log.levels.INFO)
      end
    end)
    map("d", "remove the rule (added with protocol.add)", function()
      local r = current()
      if not r then
        return
      end
      host.call("protocol.remove", { id = r.id }, function(e)
        if e then
          return host.report(e)
        end
        vim.notify(("orchflow: rule %s removed"):format(r.id), vim.log.levels.INFO)
        reload()
      end)
    end)
  end)
end

return M
