-- :Orchflow review {agent}: what an agent changed in its worktree, file by file, hunk by hunk.
-- A float lists the files (overlaps with other agents flagged); <CR> opens a file's diff in
-- a scratch buffer (filetype diff) where each hunk can be accepted into your tree, rejected
-- in the agent's, or commented on by line. Every action is a review.* call to the
-- orchestrator (doc/orchestrator-api.md), answered asynchronously: the editor never waits.
local M = {}

local host = require("orchflow.host")
local fmt = require("orchflow.fmt")
local present = fmt.present

local LETTER = { modified = "M", added = "A", deleted = "D", renamed = "R", copied = "C", typechange = "T" }
M.FILES_FOOTER = "<CR> diff  a accept file  x reject file  S send comments  F finish  r refresh  q close"
M.DIFF_FOOTER = "a accept hunk  x reject hunk  c comment line  ]h [h next/prev  S send  F finish  q back"
M.STRATEGIES = { "merge", "squash", "rebase" }

local function call(method, params, cb, opts)
  host.call(method, params, host.with_result(cb), opts)
end

--- Long enough for finish: the merge, then the worktree's teardown script.
local function finish_timeout()
  local opts = require("orchflow.config").get()
  local setup = (opts.worktree and opts.worktree.setup_timeout_s) or 120
  return math.max(opts.host.timeout_s, 2 * setup + 60)
end

local function body_lines(text)
  return vim.split((text:gsub("\n$", "")), "\n", { plain = true })
end

--- The overlap note of `path` ("" if no other agent changed it).
local function overlap_of(view, path)
  for _, o in ipairs(view.overlaps or {}) do
    if o.path == path then
      return "  ! also changed by " .. table.concat(o.agents, ", ")
    end
  end
  return ""
end

--- The file list: lines, highlights ({ line, group }) and the file behind each line.
function M.render_files(view)
  local base = present(view.base) and view.base:sub(1, 7) or "?"
  local lines = {
    ("%s on %s (base %s), %d file%s changed"):format(
      view.agent, present(view.branch) and view.branch or "a detached HEAD", base, #view.files, #view.files == 1 and "" or "s"),
  }
  local hls, items = {}, {}
  if #(view.overlaps or {}) > 0 then
    lines[#lines + 1] = ("! %d file%s also changed by other agents: accept with care"):format(
      #view.overlaps, #view.overlaps == 1 and "" or "s")
    hls[#hls + 1] = { #lines, "OrchflowWarn" }
  end
  local comments = #(view.comments or {})
  if comments > 0 then
    lines[#lines + 1] = ("%d comment%s not sent yet (S sends)"):format(comments, comments == 1 and "" or "s")
    hls[#hls + 1] = { #lines, "OrchflowDim" }
    -- each one (kept by the orchestrator until sent, across its restarts): its first line
    for _, c in ipairs(view.comments) do
      lines[#lines + 1] = ("  > %s:%d: %s"):format(c.path, c.line, (c.text:gsub("\n.*", " ...")))
      hls[#hls + 1] = { #lines, "OrchflowDim" }
    end
  end
  lines[#lines + 1] = ""
  if #view.files == 0 then
    lines[#lines + 1] = "  nothing changed against the base"
  end
  for _, f in ipairs(view.files) do
    local name = present(f.old_path) and (f.old_path .. " → " .. f.path) or f.path
    local what
    if f.binary then
      what = "binary"
    elseif f.submodule then
      what = "submodule"
    else
      what = ("%d hunk%s"):format(#f.hunks, #f.hunks == 1 and "" or "s")
    end
    if type(f.mode) == "table" then
      what = what .. (", mode %s → %s"):format(f.mode.old, f.mode.new)
    end
    lines[#lines + 1] = ("  %s  %s  (%s)%s"):format(LETTER[f.status] or "?", name, what, overlap_of(view, f.path))
    hls[#hls + 1] = { #lines, overlap_of(view, f.path) ~= "" and "OrchflowWarn" or "OrchflowTitle" }
    items[#lines] = { file = f }
  end
  return lines, hls, items
end

--- One file's diff: lines (a diff), highlights and per line { hunk, line } (`line`: the
--- line in the agent's file a comment there refers to).
function M.render_diff(view, f)
  local lines = {
    ("diff %s  (%s%s)"):format(f.path, f.status, present(f.old_path) and (" from " .. f.old_path) or ""),
  }
  local hls, items = {}, {}
  local note = overlap_of(view, f.path)
  if note ~= "" then
    lines[#lines + 1] = "!" .. note:sub(4)
    hls[#hls + 1] = { #lines, "OrchflowWarn" }
  end
  if present(f.whole_file_only) then
    lines[#lines + 1] = "whole file only: " .. f.whole_file_only .. " (a/x in the file list)"
    hls[#hls + 1] = { #lines, "OrchflowDim" }
  end
  for _, h in ipairs(f.hunks) do
    lines[#lines + 1] = h.header
    items[#lines] = { hunk = h, line = math.max(h.new_start, 1) }
    local n = h.new_start
    for _, text in ipairs(body_lines(h.text)) do
      lines[#lines + 1] = (text:gsub("\r$", ""))
      local first = text:sub(1, 1)
      items[#lines] = { hunk = h, line = math.max(n, 1) }
      if first == " " or first == "+" then
        n = n + 1
      end
    end
  end
  if #f.hunks == 0 and not present(f.whole_file_only) then
    lines[#lines + 1] = "(no text hunks: accept or reject the whole file in the list)"
  end
  return lines, hls, items
end

local Review = {}
Review.__index = Review

local function paint(buf, ns_name, lines, hls)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local ns = vim.api.nvim_create_namespace(ns_name)
  vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  for _, h in ipairs(hls) do
    vim.api.nvim_buf_set_extmark(buf, ns, h[1] - 1, 0, { end_col = #lines[h[1]], hl_group = h[2] })
  end
end

function Review:draw()
  if vim.api.nvim_buf_is_valid(self.buf) then
    local lines, hls, items = M.render_files(self.view)
    self.items = items
    paint(self.buf, "orchflow-review", lines, hls)
    if vim.api.nvim_win_is_valid(self.win) then
      local row = math.min(vim.api.nvim_win_get_cursor(self.win)[1], #lines)
      vim.api.nvim_win_set_cursor(self.win, { row, 0 })
    end
  end
  if self.diff and vim.api.nvim_buf_is_valid(self.diff.buf) then
    local f = self:file(self.diff.path)
    if not f then
      vim.api.nvim_win_close(self.diff.win, true)
      self.diff = nil
      return
    end
    local lines, hls, items = M.render_diff(self.view, f)
    self.diff.items = items
    paint(self.diff.buf, "orchflow-review-diff", lines, hls)
    if vim.api.nvim_win_is_valid(self.diff.win) then
      local row = math.min(vim.api.nvim_win_get_cursor(self.diff.win)[1], #lines)
      vim.api.nvim_win_set_cursor(self.diff.win, { row, 0 })
    end
  end
end

function Review:file(path)
  for _, f in ipairs(self.view.files) do
    if f.path == path then
      return f
    end
  end
end

function Review:refresh(after)
  call("review.open", { agent = self.agent }, function(view)
    self.view = view
    self:draw()
    if after then
      after()
    end
  end)
end

--- Files of yours that are loaded and modified in Neovim: accepting over them is refused here
--- (the orchestrator sees only what is on disk).
function Review:unsaved(paths)
  local out = {}
  for _, p in ipairs(paths) do
    local buf = vim.fn.bufnr(self.view.root .. "/" .. p)
    if buf ~= -1 and vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].modified then
      out[#out + 1] = p
    end
  end
  return out
end

--- Reload the loaded, unmodified buffers of `paths` (under `root`) from disk: `:edit` keeps
--- their undo history ('undoreload'), so `u` takes an accept back. (`:checktime` from a
--- callback is postponed by Neovim to a moment that may never come while a float waits.)
function M.reload(root, paths)
  for _, p in ipairs(paths or {}) do
    local buf = vim.fn.bufnr(root .. "/" .. p)
    if buf ~= -1 and vim.api.nvim_buf_is_loaded(buf) and not vim.bo[buf].modified then
      vim.api.nvim_buf_call(buf, function()
        vim.cmd("silent! edit")
      end)
    end
  end
end

local function summary(verb, res, done_key)
  local done, refused = #(res[done_key] or {}), #(res.refused or {})
  local msg = ("orchflow: %s %d"):format(verb, done)
  if refused > 0 then
    msg = msg .. (", refused %d: %s"):format(refused, res.refused[1].reason)
    return msg, vim.log.levels.WARN
  end
  return msg, vim.log.levels.INFO
end

function Review:accept(params, paths)
  local unsaved = self:unsaved(paths)
  if #unsaved > 0 then
    return vim.notify(
      "orchflow: " .. table.concat(unsaved, ", ") .. " has unsaved changes in Neovim: write or undo them first",
      vim.log.levels.WARN
    )
  end
  params.agent = self.agent
  call("review.accept", params, function(res)
    M.reload(res.root, res.written) -- unmodified buffers of the accepted files (undoable)
    vim.notify(summary("accepted", res, "accepted"))
    self:refresh()
  end)
end

function Review:reject(params)
  params.agent = self.agent
  call("review.reject", params, function(res)
    vim.notify(summary("rejected", res, "rejected"))
    self:refresh()
  end)
end

function Review:file_under_cursor()
  local item = self.items[vim.api.nvim_win_get_cursor(self.win)[1]]
  return item and item.file
end

function Review:diff_item()
  if not self.diff or not vim.api.nvim_win_is_valid(self.diff.win) then
    return nil
  end
  return self.diff.items[vim.api.nvim_win_get_cursor(self.diff.win)[1]]
end

function Review:send()
  call("review.send", { agent = self.agent }, function(res)
    vim.notify(("orchflow: sent %d comment%s to %s"):format(res.sent, res.sent == 1 and "" or "s", res.agent))
    self:refresh()
  end)
end

function Review:comment()
  local item = self:diff_item()
  if not item then
    return vim.notify("orchflow: put the cursor on a line of a hunk")
  end
  local path = self.diff.path
  vim.ui.input({ prompt = ("comment on %s:%d: "):format(path, item.line) }, function(text)
    if not text or vim.trim(text) == "" then
      return vim.notify("orchflow: no comment (empty)")
    end
    call("review.comment", { agent = self.agent, path = path, line = item.line, text = text }, function(res)
      vim.notify(("orchflow: comment %d on %s:%d (S sends them)"):format(res.count, path, item.line))
      self:refresh()
    end)
  end)
end

function Review:finish()
  vim.ui.select(M.STRATEGIES, { prompt = "finish the review of " .. self.agent .. " with" }, function(strategy)
    if not strategy then
      return
    end
    vim.ui.input({ prompt = "commit message (empty: the default): " }, function(message)
      if message == nil then
        return vim.notify("orchflow: finish cancelled")
      end
      local params = { agent = self.agent, strategy = strategy }
      if vim.trim(message) ~= "" then
        params.message = message
      end
      vim.notify(("orchflow: finishing %s (%s)…"):format(self.agent, strategy))
      call("review.finish", params, function(res)
        M.reload(self.view.root, res.files)
        local wt = res.worktree
        local tail = type(wt) == "table" and wt.removed and ", worktree removed" or ""
        vim.notify(("orchflow: %s %s into %s: %s (%d file%s)%s"):format(
          res.agent, strategy == "merge" and "merged" or (strategy == "squash" and "squashed" or "rebased"),
          present(res.branch) and res.branch or "HEAD", res.commit:sub(1, 7), #res.files, #res.files == 1 and "" or "s", tail))
        self:close()
      end, { timeout_s = finish_timeout() })
    end)
  end)
end

function Review:close()
  if self.diff and vim.api.nvim_win_is_valid(self.diff.win) then
    vim.api.nvim_win_close(self.diff.win, true)
  end
  if vim.api.nvim_win_is_valid(self.win) then
    vim.api.nvim_win_close(self.win, true)
  end
end

local function map(buf, key, desc, fn)
  vim.keymap.set("n", key, fn, { buffer = buf, nowait = true, desc = "orchflow review: " .. desc })
end

function Review:jump(dir)
  local row = vim.api.nvim_win_get_cursor(self.diff.win)[1]
  local last = vim.api.nvim_buf_line_count(self.diff.buf)
  local r = row + dir
  while r >= 1 and r <= last do
    local item = self.diff.items[r]
    if item and item.hunk and vim.api.nvim_buf_get_lines(self.diff.buf, r - 1, r, false)[1]:match("^@@") then
      return vim.api.nvim_win_set_cursor(self.diff.win, { r, 0 })
    end
    r = r + dir
  end
end

--- The diff of the file under the cursor, in a scratch float with filetype diff.
function Review:open_diff()
  local f = self:file_under_cursor()
  if not f then
    return vim.notify("orchflow: put the cursor on a file")
  end
  local lines, hls, items = M.render_diff(self.view, f)
  local win, buf = require("orchflow.float").open(lines, {
    title = ("orchflow review %s: %s"):format(self.agent, f.path),
    footer = M.DIFF_FOOTER,
    filetype = "diff",
  })
  self.diff = { win = win, buf = buf, path = f.path, items = items }
  paint(buf, "orchflow-review-diff", lines, hls)
  map(buf, "a", "accept the hunk into your tree", function()
    local item = self:diff_item()
    if not item then
      return vim.notify("orchflow: put the cursor on a hunk")
    end
    self:accept({ hunks = { item.hunk.id } }, { f.path })
  end)
  map(buf, "x", "reject the hunk in the agent's worktree", function()
    local item = self:diff_item()
    if not item then
      return vim.notify("orchflow: put the cursor on a hunk")
    end
    self:reject({ hunks = { item.hunk.id } })
  end)
  map(buf, "c", "comment on this line", function()
    self:comment()
  end)
  map(buf, "]h", "next hunk", function()
    self:jump(1)
  end)
  map(buf, "[h", "previous hunk", function()
    self:jump(-1)
  end)
  map(buf, "S", "send the comments to the agent", function()
    self:send()
  end)
  map(buf, "F", "finish: merge, squash or rebase", function()
    self:finish()
  end)
  self:jump(1)
end

--- :Orchflow review {agent}
function M.open(args)
  require("orchflow.args").need(args, 1, ":Orchflow review {agent}")
  local agent = args[1]
  call("review.open", { agent = agent }, function(view)
    local win, buf = require("orchflow.float").open({ "" }, {
      title = "orchflow review: " .. view.agent,
      footer = M.FILES_FOOTER,
      filetype = "orchflow-review",
    })
    local r = setmetatable({ agent = view.agent, view = view, win = win, buf = buf, items = {} }, Review)
    r:draw()
    local first = next(r.items)
    for row in pairs(r.items) do
      first = math.min(first, row)
    end
    if first then
      vim.api.nvim_win_set_cursor(win, { first, 0 })
    end
    map(buf, "<CR>", "the file's diff", function()
      r:open_diff()
    end)
    map(buf, "d", "the file's diff", function()
      r:open_diff()
    end)
    map(buf, "a", "accept the whole file into your tree", function()
      local f = r:file_under_cursor()
      if f then
        r:accept({ paths = { f.path } }, { f.path, present(f.old_path) and f.old_path or nil })
      end
    end)
    map(buf, "x", "reject the whole file in the agent's worktree", function()
      local f = r:file_under_cursor()
      if f then
        r:reject({ paths = { f.path } })
      end
    end)
    map(buf, "S", "send the comments to the agent", function()
      r:send()
    end)
    map(buf, "F", "finish: merge, squash or rebase", function()
      r:finish()
    end)
    map(buf, "r", "read the agent's changes again", function()
      r:refresh()
    end)
    M._review = r -- for tests
  end)
end

--- Completion for {agent}: the agents that have a worktree (only when the host runs).
function M.complete_agents(_, rest)
  return require("orchflow.orchestrator").agent_names(rest, function(a)
    return type(a.worktree) == "table"
  end)
end

return M
