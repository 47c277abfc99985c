-- The Python host: started on first use with jobstart(..., { rpc = true }), so it
-- works with the python3 provider or rplugin manifest disabled. Every call is
-- asynchronous: Lua sends a notification, the host answers later through
-- require("orchflow.host")._reply(), so Neovim never waits on Python.
local M = {}

local state = {
  chan = nil, ---@type integer|nil
  pending = {}, ---@type table<integer, { cb: fun(err: table|nil, result: any), timer: uv.uv_timer_t }>
  next_id = 0,
  stderr = {},
  stopping = false,
}

local function notify(msg, level)
  vim.schedule(function()
    vim.notify(msg, level or vim.log.levels.ERROR)
  end)
end

--- The interpreter: setup({ python }) > plugin-local .venv > g:python3_host_prog > python3.
function M.python()
  local config = require("orchflow.config")
  local opt = config.get().python
  if type(opt) == "string" and opt ~= "" then
    return vim.fn.expand(opt), "setup({ python })"
  end
  local venv = config.root() .. "/.venv/bin/python"
  if vim.fn.executable(venv) == 1 then
    return venv, "plugin .venv"
  end
  local prog = vim.g.python3_host_prog
  if type(prog) == "string" and prog ~= "" then
    return vim.fn.expand(prog), "g:python3_host_prog"
  end
  return "python3", "python3 on $PATH"
end

-- Runs in the interpreter before anything else: a Python too old for
-- orchflow_core gets a plain message instead of a SyntaxError.
-- The interpreter runs isolated (-I: no cwd, no PYTHONPATH, no user site-packages
-- on sys.path) in the plugin dir, so a project that ships msgpack.py or pynvim/
-- never runs; the plugin root is put on sys.path here, explicitly.
local BOOT = table.concat({
  "import sys",
  "if sys.version_info < (3, 11):",
  "    sys.stderr.write('orchflow: %s is Python %d.%d; orchflow needs Python >= 3.11. '",
  "                     'Fix: run `make install` in %s or set setup({ python = ... }).\\n'",
  "                     % (sys.executable, sys.version_info[0], sys.version_info[1], sys.argv[2]))",
  "    sys.exit(3)",
  "sys.path.insert(0, sys.argv[2])",
  "from orchflow_core.host_boot import boot",
  "boot(sys.argv[1], sys.argv[2])",
}, "\n")

--- argv and options shared by the host and the :checkhealth probe: isolated,
--- in the plugin dir, whatever Neovim's working directory is.
function M.isolated_argv(py, code, ...)
  return { py, "-I", "-c", code, ... }
end

function M.running()
  return state.chan ~= nil
end

function M.channel()
  return state.chan
end

--- Tell the user about a failed call, once. Errors the host layer already
--- reported (a dead host fails every pending call) carry `reported = true`.
function M.report(err)
  if not err or err.reported then
    return
  end
  local msg = err.message or tostring(err)
  notify(msg:match("^orchflow") and msg or ("orchflow: " .. msg))
end

local function stop_timer(entry)
  if not entry.timer:is_closing() then
    entry.timer:stop()
    entry.timer:close()
  end
end

--- Take call `id` out of the pending table (stopping its deadline); nil if it is not there.
local function take(id)
  local entry = state.pending[id]
  state.pending[id] = nil
  if entry then
    stop_timer(entry)
  end
  return entry
end

local function fail_pending(message, reported)
  local pending = state.pending
  state.pending = {}
  for _, entry in pairs(pending) do
    stop_timer(entry)
    pcall(entry.cb, { code = -32003, message = message, reported = reported }, nil)
  end
end

--- The call's deadline passed: fail it; its answer, should it come, is dropped by _reply.
local function on_deadline(id, seconds)
  local entry = take(id)
  if entry then
    entry.cb({
      code = -32008,
      message = ("orchflow: no answer from orchflow's host in %g s (see :Orchflow log)"):format(seconds),
      data = { method = entry.method },
    }, nil)
  end
end

local function on_exit(chan, code)
  if state.chan ~= chan then
    return
  end
  state.chan = nil
  local text = vim.trim(table.concat(state.stderr, "\n"))
  state.stderr = {}
  local message
  if text:match("^orchflow: ") then
    message = text -- the boot script's own one-line diagnosis
  elseif code ~= 0 then
    local last = text:match("([^\n]+)$") or "no output"
    message = ("orchflow: the Python host exited with code %d (%s); see :Orchflow log"):format(code, last)
  end
  local tell = message ~= nil and not state.stopping
  fail_pending(message or "orchflow: the Python host stopped", tell)
  if tell then
    notify(message)
  end
end

--- Start the host if it is not running; returns the channel id. Raises if the interpreter is missing.
function M.start()
  if state.chan then
    return state.chan
  end
  local config = require("orchflow.config")
  local py, source = M.python()
  if vim.fn.executable(py) == 0 then
    error(
      ("orchflow: Python interpreter %q (from %s) not found. Fix: run `make install` in %s, or setup({ python = '/path/to/python' })"):format(
        py,
        source,
        config.root()
      ),
      0
    )
  end
  local root = config.root()
  state.stderr, state.stopping = {}, false
  local chan
  chan = vim.fn.jobstart(M.isolated_argv(py, BOOT, root .. "/rplugin/python3/orchflow", root), {
    rpc = true,
    cwd = root, -- never the project: the core gets it as init's `cwd` below
    on_stderr = function(_, data)
      for _, line in ipairs(data) do
        if line ~= "" then
          state.stderr[#state.stderr + 1] = line
        end
      end
    end,
    on_exit = function(_, code)
      on_exit(chan, code)
    end,
  })
  if chan <= 0 then
    error(("orchflow: could not start %q (jobstart returned %d)"):format(py, chan), 0)
  end
  state.chan = chan
  require("orchflow.runs").attach() -- finished runs notify (setup({ runs = { notify } }))
  require("orchflow.rules").attach() -- rule warnings notify
  require("orchflow.ai") -- AI agents: "needs input" notices, transcript buffers
  require("orchflow.agent_fs") -- ACP agents' fs/* through loaded buffers
  M.call("init", { overrides = config.core_overrides(), cwd = vim.fn.getcwd() }, function(err)
    M.report(err)
    -- The active mode is read once init has answered, not with it: mode.current opens the
    -- state database (tens of ms on a cold host), which would delay the user's first call.
    -- Only from this host: a call after it died would start another one.
    if state.chan == chan then
      require("orchflow.modes").refresh()
    end
  end)
  require("orchflow.modes").attach() -- follows mode changes, for the statusline
  return chan
end

--- Call `method` on the host; `cb(err, result)` runs later on the main loop, exactly
--- once: with the answer, or with an error if none came within host.timeout_s (or
--- `opts.timeout_s`, for a call known to take longer: an agent's worktree setup).
--- err is { code, message, data? } and never a traceback.
function M.call(method, params, cb, opts)
  local ok, e = pcall(M.start)
  if not ok then
    if cb then
      vim.schedule(function()
        cb({ code = -32003, message = tostring(e) }, nil)
      end)
      return
    end
    error(e, 0)
  end
  state.next_id = state.next_id + 1
  local id = state.next_id
  -- Every call gets an answer or, after host.timeout_s, the "no answer" error.
  local seconds = (opts and opts.timeout_s) or require("orchflow.config").get().host.timeout_s
  local timer = assert(vim.uv.new_timer())
  timer:start(math.floor(seconds * 1000), 0, vim.schedule_wrap(function()
    on_deadline(id, seconds)
  end))
  state.pending[id] = { cb = cb or M.report, timer = timer, method = method }
  if params == nil or next(params) == nil then
    params = vim.empty_dict() -- an empty Lua table would travel as an array
  end
  vim.rpcnotify(state.chan, "orchflow_call", id, method, params)
  return id
end

--- A callback for call(): report an error, else hand the result to `fn`.
function M.with_result(fn)
  return function(err, res)
    if err then
      return M.report(err)
    end
    fn(res)
  end
end

--- Host -> Lua: the answer to call `id`.
function M._reply(id, ok, payload)
  local entry = take(id)
  if not entry then
    return -- answered after its deadline: the caller was told already
  end
  if ok then
    entry.cb(nil, payload)
  else
    entry.cb(payload, nil)
  end
end

--- Host -> Lua: an event pushed by orchflow_core (pane output, command finished ...).
function M._event(name, data)
  require("orchflow.events").emit(name, data)
end

--- Call and wait at most `timeout_ms` (default 2000), keeping the editor responsive
--- (vim.wait runs the event loop). For completion and tests; UI code uses call().
function M.wait(method, params, timeout_ms)
  timeout_ms = timeout_ms or 2000
  local done, err, result = false, nil, nil
  M.call(method, params, function(e, r)
    done, err, result = true, e, r
  end)
  if not vim.wait(timeout_ms, function()
    return done
  end, 2) then
    error(("orchflow: %s got no answer within %d ms"):format(method, timeout_ms), 0)
  end
  if err then
    error(err.message, 0)
  end
  return result
end

function M.stop()
  if state.chan then
    state.stopping = true
    pcall(vim.fn.jobstop, state.chan)
  end
end

local group = vim.api.nvim_create_augroup("OrchflowHost", { clear = true })
vim.api.nvim_create_autocmd("VimLeavePre", { group = group, callback = M.stop })
-- search, files and history work on Neovim's working directory
vim.api.nvim_create_autocmd("DirChanged", {
  group = group,
  pattern = "global",
  callback = function()
    if state.chan then
      M.call("project.set_root", { root = vim.fn.getcwd() })
    end
  end,
})

return M
