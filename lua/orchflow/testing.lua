-- The test runner (test.* on the host, orchflow_core/testing/): :Orchflow test nearest | file |
-- last | failed | all | watch | cancel. Runs happen in a visible "test" pane; when one ends
-- (the test.finished event) its failures go to the quickfix list and to vim.diagnostic at the
-- failing line (namespace "orchflow-test"), with a summary notification.
local M = {}

local host = require("orchflow.host")

M.ns = vim.api.nvim_create_namespace("orchflow-test")
M.debounce_ms = 300 -- watch mode: saves within this many ms make one run

local mine = {} -- run ids started from this Neovim: only those fill the quickfix list
local running = nil -- the run id of ours still running
local queued = nil -- watch: params to run once `running` ends
local watching = nil -- the autocmd id while watch mode is on
local timer = nil

local fmt = require("orchflow.fmt")
local present = fmt.present

local function notify(msg, level)
  vim.notify("orchflow: " .. msg, level or vim.log.levels.INFO, { title = "orchflow" })
end

--- "✗ 3 failed, 6 passed, 1 skipped, 1 error (pytest, 0.12s)"
function M.summary(r)
  local parts = {}
  if present(r.passed) then
    for _, k in ipairs({ "failed", "passed", "skipped", "errors" }) do
      local n = r[k]
      if n and n > 0 then
        parts[#parts + 1] = ("%d %s"):format(n, k == "errors" and (n == 1 and "error" or "errors") or k)
      end
    end
    if #parts == 0 then
      parts[1] = "no tests ran"
    end
  else
    parts[1] = ("exit code %s"):format(present(r.exit_code) and r.exit_code or "?")
  end
  local mark = ({ passed = "✓", failed = "✗", error = "✗", cancelled = "⊘", killed = "☠" })[r.state] or "…"
  local dur = present(r.duration_s) and (", %.2fs"):format(r.duration_s) or ""
  local text = ("%s %s (%s %s%s)"):format(mark, table.concat(parts, ", "), r.framework, r.selection or "", dur)
  if present(r.message) and r.message ~= "" then
    text = text .. ": " .. r.message
  end
  return text
end

local function path_of(root, file)
  if file:sub(1, 1) == "/" then
    return file
  end
  return root .. "/" .. file
end

--- Quickfix items and diagnostics for a finished run's results.
function M.show(res)
  local items, by_buf = {}, {}
  vim.diagnostic.reset(M.ns)
  for _, t in ipairs(res.tests or {}) do
    if (t.status == "failed" or t.status == "error") and present(t.file) then
      local fname = path_of(res.root, t.file)
      local lnum = present(t.line) and t.line or 1
      local msg = (present(t.message) and t.message ~= "") and t.message or t.status
      msg = msg:gsub("\n.*", "")
      items[#items + 1] = { filename = fname, lnum = lnum, text = t.name .. ": " .. msg, type = "E" }
      local buf = vim.fn.bufadd(fname)
      by_buf[buf] = by_buf[buf] or {}
      table.insert(by_buf[buf], {
        lnum = lnum - 1,
        col = 0,
        severity = vim.diagnostic.severity.ERROR,
        message = t.name .. ": " .. msg,
        source = "orchflow-test",
      })
    end
  end
  for buf, diags in pairs(by_buf) do
    vim.diagnostic.set(M.ns, buf, diags)
  end
  vim.fn.setqflist({}, "r", { title = "orchflow test: " .. M.summary(res), items = items })
  return #items
end

local function on_finished(summary)
  if not mine[summary.run_id] then
    return
  end
  if running == summary.run_id then
    running = nil
  end
  host.call("test.results", { run_id = summary.run_id }, function(err, res)
    if err then
      return host.report(err)
    end
    M.show(res)
    local ok = res.state == "passed"
    notify("test " .. M.summary(res), ok and vim.log.levels.INFO or vim.log.levels.WARN)
    if queued then
      local params = queued
      queued = nil
      M.start(params)
    end
  end)
end

local attached = false
local function attach()
  if not attached then
    attached = true
    require("orchflow.events").on("test.finished", on_finished)
  end
end

--- Start a run with `params` (test.run); the result arrives as test.finished.
function M.start(params)
  attach()
  host.call("test.run", params, function(err, started)
    if err then
      return host.report(err)
    end
    mine[started.run_id] = true
    running = started.run_id
    notify(("test: running %s (%s) in pane %s"):format(started.selection, started.framework, started.pane))
  end)
end

local function current_file()
  local name = vim.api.nvim_buf_get_name(0)
  if name == "" or vim.bo.buftype ~= "" or vim.fn.filereadable(name) ~= 1 then
    error("this buffer is not a file on disk; open a test file", 0)
  end
  return name
end

--- :Orchflow test nearest: the test (function or class) at the cursor; pytest finds it with
--- Python's parser, go by the func TestX above the cursor; outside any test, the whole file.
function M.nearest()
  M.start({ file = current_file(), line = vim.api.nvim_win_get_cursor(0)[1] })
end

--- :Orchflow test file
function M.file()
  M.start({ file = current_file() })
end

--- :Orchflow test all: the suite nearest the working directory.
function M.all()
  M.start({ cwd = vim.fn.getcwd() })
end

--- :Orchflow test last: the latest run again, as it was started.
function M.last()
  host.call("test.last", {}, function(err, last)
    if err then
      return host.report(err)
    end
    if not present(last) then
      return notify("test: nothing ran yet; :Orchflow test nearest|file|all", vim.log.levels.WARN)
    end
    M.start(last.params)
  end)
end

--- :Orchflow test failed: only the tests that failed (or errored) in the latest run.
function M.failed()
  host.call("test.last", {}, function(err, last)
    if err then
      return host.report(err)
    end
    if not present(last) then
      return notify("test: nothing ran yet; :Orchflow test nearest|file|all", vim.log.levels.WARN)
    end
    host.call("test.results", { run_id = last.run_id }, function(err2, res)
      if err2 then
        return host.report(err2)
      end
      local ids = {}
      for _, t in ipairs(res.tests or {}) do
        if t.status == "failed" or (t.status == "error" and present(t.file)) then
          ids[#ids + 1] = t.id
        end
      end
      if #ids == 0 then
        return notify(("test: no failed tests in the last run (%s)"):format(M.summary(res)))
      end
      M.start({ cwd = res.root, root = res.root, framework = res.framework, ids = ids })
    end)
  end)
end

--- :Orchflow test cancel: stop the latest run of ours.
function M.cancel()
  if not running then
    return notify("test: no run of this editor is running", vim.log.levels.WARN)
  end
  queued = nil
  host.call("test.cancel", { run_id = running }, function(err)
    host.report(err)
  end)
end

local function is_test_file(path)
  local base = vim.fs.basename(path)
  return base:match("^test_.*%.py$")
    or base:match("_test%.py$")
    or base:match("_test%.go$")
    or base:match("%.test%.[jt]sx?$")
    or base:match("%.spec%.[jt]sx?$")
end

--- What a save re-runs in watch mode ("affected"): a saved test file runs that file; any other
--- saved .py/.go/.rs file re-runs the latest run (its selection), or, before any run, the suite
--- of the file's directory.
function M.affected(path)
  if is_test_file(path) then
    return { file = path }
  end
  return nil
end

local function on_save(path)
  local params = M.affected(path)
  local function go(p)
    if running then
      queued = p -- one run at a time: the latest save wins
    else
      M.start(p)
    end
  end
  if params then
    return go(params)
  end
  host.call("test.last", {}, function(err, last)
    if err then
      return host.report(err)
    end
    go(present(last) and last.params or { cwd = vim.fs.dirname(path) })
  end)
end

--- :Orchflow test watch: on/off. Saves of *.py, *.go and *.rs files re-run the affected tests
--- (M.affected), debounced by M.debounce_ms.
function M.watch()
  if watching then
    vim.api.nvim_del_autocmd(watching)
    watching = nil
    return notify("test watch off")
  end
  attach()
  timer = timer or vim.uv.new_timer()
  local pending_path = nil
  watching = vim.api.nvim_create_autocmd("BufWritePost", {
    pattern = { "*.py", "*.go", "*.rs", "*.js", "*.ts", "*.jsx", "*.tsx" },
    desc = "orchflow: re-run affected tests",
    callback = function(ev)
      pending_path = vim.api.nvim_buf_get_name(ev.buf)
      timer:stop()
      timer:start(M.debounce_ms, 0, vim.schedule_wrap(function()
        if watching and pending_path then
          local p = pending_path
          pending_path = nil
          on_save(p)
        end
      end))
    end,
  })
  notify("test watch on: saving a source file re-runs the affected tests")
end

function M.watching()
  return watching ~= nil
end

return M
