-- :Orchflow ai complete and :Orchflow ai providers: completions from the configured
-- model providers (doc/providers.md). The answer streams into a float as the
-- orchestrator's ai.delta events arrive; <C-c> cancels it (ai.cancel), q closes the
-- float (and cancels a completion still running). A completion with MCP tools shows
-- each call as a "▸ server.tool …" line (ai.tool events) between the rounds' text.
-- Nothing here polls or waits.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")

-- views[request_id] = { buf, win }; events for a request whose id is not known yet
-- (they may overtake ai.complete's answer) wait in early[request_id].
local views = {} ---@type table<string, table>
local early = {} ---@type table<string, table[]>
local MAX_EARLY = 64 -- requests whose events may wait (the oldest are dropped)

local append = require("orchflow.float").append

local function footer(v, text)
  if vim.api.nvim_win_is_valid(v.win) then
    pcall(vim.api.nvim_win_set_config, v.win, { footer = " " .. text .. " ", footer_pos = "right" })
  end
end

local function usage_text(u)
  if type(u) ~= "table" or u.total_tokens == nil or u.total_tokens == vim.NIL then
    return ""
  end
  return (", %s tokens"):format(u.total_tokens)
end

local function tool_label(ev)
  if type(ev.server) == "string" and type(ev.tool) == "string" then
    return ev.server .. "." .. ev.tool
  end
  return tostring(ev.name or "?") .. " (not offered)"
end

local function first_line(text)
  local line = vim.split(tostring(text or ""), "\n", { plain = true })[1] or ""
  return #line > 80 and (line:sub(1, 79) .. "…") or line
end

local function tool_event(v, ev)
  if ev.phase == "started" then
    local n = vim.api.nvim_buf_is_valid(v.buf) and vim.api.nvim_buf_line_count(v.buf) or 1
    local last = vim.api.nvim_buf_is_valid(v.buf) and vim.api.nvim_buf_get_lines(v.buf, n - 1, n, false)[1] or ""
    append(v.buf, (last == "" and "" or "\n") .. "▸ " .. tool_label(ev) .. " …")
    footer(v, ("running %s · <C-c> cancel · q close"):format(tool_label(ev)))
  elseif ev.phase == "finished" then
    append(v.buf, (ev.is_error and (" ✗ " .. first_line(ev.text)) or " ✓") .. "\n")
    footer(v, "streaming · <C-c> cancel · q close")
  else
    append(v.buf, "\n▸ " .. tool_label(ev) .. ": " .. first_line(ev.text) .. "\n")
  end
end

local function apply(v, name, ev)
  if name == "ai.delta" then
    append(v.buf, ev.text or "")
    return
  end
  if name == "ai.tool" then
    return tool_event(v, ev)
  end
  v.running = false
  views[v.request_id] = nil
  if name == "ai.done" then
    if ev.cancelled then
      append(v.buf, "\n\n[cancelled]")
      footer(v, "cancelled · q close")
    else
      local calls = type(ev.tool_calls) == "table" and #ev.tool_calls or 0
      local tools = calls > 0 and (", %d tool call%s"):format(calls, calls == 1 and "" or "s") or ""
      if ev.finish_reason == "max_tool_rounds" then
        append(v.buf, "\n\n[stopped: the tool round limit (max_tool_rounds) was reached]")
      end
      footer(
        v,
        ("done: %s (%s)%s%s · q close"):format(ev.provider or "?", ev.model or "?", usage_text(ev.usage), tools)
      )
    end
  else
    local msg = type(ev.error) == "table" and ev.error.message or "failed"
    append(v.buf, "\n\n[error] " .. msg)
    footer(v, "failed · q close")
    vim.notify("orchflow: ai complete: " .. msg, vim.log.levels.ERROR)
  end
end

local function on_event(name)
  return function(ev)
    local v = views[ev.request_id]
    if v then
      return apply(v, name, ev)
    end
    local queue = early[ev.request_id]
    if not queue then
      if vim.tbl_count(early) >= MAX_EARLY then
        early = {}
      end
      queue = {}
      early[ev.request_id] = queue
    end
    queue[#queue + 1] = { name, ev }
  end
end

for _, name in ipairs({ "ai.delta", "ai.tool", "ai.done", "ai.error" }) do
  events.on(name, on_event(name))
end

local function cancel(v)
  if v.running and v.request_id then
    host.call("ai.cancel", { request_id = v.request_id }, function(err)
      if err then
        host.report(err)
      end
    end)
  end
end

--- Leading `+tools`, `-tools` and `+<server>` words: ai.complete's tools (nil: the
--- provider's setting), and the text after them.
local function tools_words(text)
  local tools = nil
  while true do
    local sign, word, rest = text:match("^%s*([+-])([%w_-]+)%s+(.*)$")
    if not sign then
      return tools, text
    end
    if word == "tools" then
      tools = sign == "+"
    elseif sign == "+" then
      tools = type(tools) == "table" and tools or {}
      tools[#tools + 1] = word
    else
      return tools, text
    end
    text = rest
  end
end

--- :Orchflow ai complete [@provider] [+tools|-tools|+server ...] {text}: the answer
--- streamed into a float. Returns the float's window.
function M.complete(args, info)
  local A = require("orchflow.args")
  local text = A.rest(args, info)
  local provider = nil
  local first, rest = text:match("^%s*@([%w_-]+)%s+(.*)$")
  if first then
    provider, text = first, rest
  end
  local tools
  tools, text = tools_words(text)
  if vim.trim(text) == "" then
    return vim.ui.input({ prompt = "orchflow ai: " }, function(typed)
      if typed and vim.trim(typed) ~= "" then
        M.complete({}, { rest = typed })
      end
    end)
  end
  local win, buf = require("orchflow.float").open({ "" }, {
    title = "ai: " .. (provider or "default provider"),
    footer = "asking… · <C-c> cancel · q close",
  })
  vim.wo[win].wrap = true
  vim.bo[buf].filetype = "markdown"
  local v = { buf = buf, win = win, running = true, request_id = nil }
  vim.keymap.set("n", "<C-c>", function()
    cancel(v)
  end, { buffer = buf, nowait = true, desc = "orchflow: cancel the completion" })
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = buf,
    once = true,
    callback = function()
      cancel(v)
    end,
  })
  host.call("ai.complete", { prompt = text, provider = provider, stream = true, tools = tools }, function(err, res)
    if err then
      v.running = false
      append(buf, "[error] " .. (err.message or tostring(err)))
      footer(v, "failed · q close")
      return host.report(err)
    end
    v.request_id = res.request_id
    footer(v, ("streaming from %s (%s) · <C-c> cancel · q close"):format(res.provider, res.model))
    views[res.request_id] = v
    local queued = early[res.request_id] or {}
    early[res.request_id] = nil
    for _, item in ipairs(queued) do
      if views[res.request_id] then
        apply(v, item[1], item[2])
      end
    end
  end)
  return win
end

--- :Orchflow ai providers: each provider, its model, breaker state and why it is
--- unavailable (if it is).
function M.providers()
  host.call("ai.providers", {}, function(err, res)
    if err then
      return host.report(err)
    end
    local lines = {}
    if res.error and res.error ~= vim.NIL then
      lines[#lines + 1] = "config error: " .. res.error
    end
    if #res.providers == 0 and #lines == 0 then
      lines[#lines + 1] = "no providers: add a [providers.<name>] table to config.toml (:help orchflow-providers)"
    end
    for _, p in ipairs(res.providers) do
      local mark = p.default and "*" or " "
      local model = (p.model ~= vim.NIL and p.model) or "-"
      local state = p.breaker and p.breaker.state or "?"
      local line = ("%s %-12s %-9s %-24s breaker %s"):format(mark, p.name, p.kind, model, state)
      if p.unavailable and p.unavailable ~= vim.NIL then
        line = line .. "  unavailable: " .. p.unavailable
      elseif p.api_key_env and p.api_key_env ~= vim.NIL then
        line = line .. ("  key $%s %s"):format(p.api_key_env, p.api_key_set and "set" or "unset")
      end
      lines[#lines + 1] = line
    end
    require("orchflow.float").open(lines, { title = "ai providers (* default)", fit = true })
  end)
end

return M
