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

--- :Orchflow ask {text}
function M.open(args, info)
  local input = vim.trim(require("orchflow.args").rest(args, info) or "")
  local cwd = vim.fn.getcwd()
  local function go(text)
    if text == nil or vim.trim(text) == "" then
      return vim.notify("orchflow: ask needs a request: :Orchflow ask {text}", vim.log.levels.ERROR)
    end
    host.call("ai.route", { input = text, context = { cwd = cwd } }, function(err, r)
      if err then
        return host.report(err)
      end
      M.show(text, cwd, r)
    end)
  end
  if input == "" then
    return vim.ui.input({ prompt = "orchflow ask: " }, go)
  end
  go(input)
end

return M
