-- :Orchflow browse [dir] — one directory of the project at a time in a float
-- (directories first), with create, rename, move, copy and delete to orchflow's
-- trash through the host's files.* methods, which refuse paths outside the root
-- and never overwrite. :Orchflow trash lists deleted entries and restores them.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")

local ns = vim.api.nvim_create_namespace("orchflow_browser")

M.HIDE = { [".git"] = true }

local function join(dir, name)
  return dir == "" and name or (dir .. "/" .. name)
end

local function basename(rel)
  return rel:match("([^/]+)$") or rel
end

local function parent(rel)
  return rel:match("^(.*)/[^/]+$") or ""
end

--- Entries of `abs`: { name, dir = bool, link = bool }, directories first, then by name.
function M.list(abs)
  local handle, err = vim.uv.fs_scandir(abs)
  if not handle then
    return nil, err
  end
  local out = {}
  while true do
    local name, kind = vim.uv.fs_scandir_next(handle)
    if not name then
      break
    end
    if not M.HIDE[name] then
      local is_dir = kind == "directory"
      if kind == "link" then
        local st = vim.uv.fs_stat(abs .. "/" .. name)
        is_dir = st ~= nil and st.type == "directory"
      end
      out[#out + 1] = { name = name, dir = is_dir, link = kind == "link" }
    end
  end
  table.sort(out, function(a, b)
    if a.dir ~= b.dir then
      return a.dir
    end
    return a.name < b.name
  end)
  return out
end

-- Buffers follow a rename or move: their name changes to the new path. An unchanged
-- buffer is re-read from there (:edit!), which also lets a plain :w work again.
function M.follow_buffers(old_abs, new_abs)
  local moved = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    local name = vim.api.nvim_buf_get_name(b)
    local target
    if name == old_abs then
      target = new_abs
    elseif vim.startswith(name, old_abs .. "/") then
      target = new_abs .. name:sub(#old_abs + 1)
    end
    if target and vim.bo[b].buftype == "" then
      vim.api.nvim_buf_set_name(b, target)
      moved[#moved + 1] = { buf = b, old = name }
    end
  end
  for _, m in ipairs(moved) do
    -- nvim_buf_set_name leaves an unlisted, unloaded buffer under the old name: drop it
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if b ~= m.buf and vim.api.nvim_buf_get_name(b) == m.old and not vim.api.nvim_buf_is_loaded(b) then
        pcall(vim.api.nvim_buf_delete, b, { force = true })
      end
    end
    if vim.api.nvim_buf_is_loaded(m.buf) and not vim.bo[m.buf].modified then
      vim.api.nvim_buf_call(m.buf, function()
        vim.cmd("silent! edit!")
      end)
    elseif vim.bo[m.buf].modified then
      vim.notify(
        ("orchflow: %s has unsaved changes; :w! saves them at its new path"):format(
          vim.fn.fnamemodify(vim.api.nvim_buf_get_name(m.buf), ":.")
        ),
        vim.log.levels.WARN
      )
    end
  end
  return #moved
end

--- Completion for :Orchflow browse: the project's directories under what is typed.
function M.complete_dirs(arglead, rest)
  if #rest > 0 then
    return {}
  end
  local base = arglead:match("^(.*/)") or ""
  local entries = M.list(vim.fn.getcwd() .. "/" .. base) or {}
  local out = {}
  for _, e in ipairs(entries) do
    if e.dir then
      out[#out + 1] = base .. e.name .. "/"
    end
  end
  return out
end

local Browser = {}
Browser.__index = Browser

local FOOTER = "<CR> open  - up  a add  r rename  m move  c copy  d delete  T trash  q close"

function M.open(args, _info)
  local root = vim.fn.getcwd()
  local dir = ((args or {})[1] or ""):gsub("/+$", ""):gsub("^%./?", "")
  if dir:sub(1, 1) == "/" then
    local rel = vim.fs.relpath and vim.fs.relpath(root, dir) or nil
    if not rel then
      error(("%s is outside the project root %s"):format(dir, root), 0)
    end
    dir = rel == "." and "" or rel
  end
  local st = vim.uv.fs_stat(join(root, dir))
  if not st or st.type ~= "directory" then
    error(("%s is not a directory of the project"):format(dir), 0)
  end
  local self = setmetatable({ root = root, dir = dir }, Browser)
  self.win, self.buf = require("orchflow.float").open({}, { title = "browse", footer = FOOTER })
  self:_keys()
  self.unsub = events.on("files.changed", function()
    self:refresh()
  end)
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = self.buf,
    once = true,
    callback = function()
      self.closed = true
      self.unsub()
    end,
  })
  self:refresh()
  return self
end

function Browser:abs(rel)
  return rel == "" and self.root or (self.root .. "/" .. rel)
end

--- Redraw the listing; the cursor goes to `focus` (a name) or stays on the same name.
function Browser:refresh(focus)
  if self.closed or not vim.api.nvim_buf_is_valid(self.buf) then
    return
  end
  if not focus and vim.api.nvim_win_is_valid(self.win) then
    local e = self:current()
    focus = e and e.name
  end
  local entries, err = M.list(self:abs(self.dir))
  self.entries = entries or {}
  local lines = {}
  for _, e in ipairs(self.entries) do
    lines[#lines + 1] = e.name .. (e.dir and "/" or "") .. (e.link and " @" or "")
  end
  if not entries then
    lines = { "(cannot read: " .. tostring(err) .. ")" }
  elseif #lines == 0 then
    lines = { "(empty)" }
  end
  vim.bo[self.buf].modifiable = true
  vim.api.nvim_buf_set_lines(self.buf, 0, -1, false, lines)
  vim.bo[self.buf].modifiable = false
  vim.api.nvim_buf_clear_namespace(self.buf, ns, 0, -1)
  for n, e in ipairs(self.entries) do
    local group = e.dir and "OrchflowTitle" or (e.name:sub(1, 1) == "." and "OrchflowDim" or nil)
    if group then
      vim.api.nvim_buf_set_extmark(self.buf, ns, n - 1, 0, { end_col = #lines[n], hl_group = group })
    end
  end
  if #self.entries == 0 then
    vim.api.nvim_buf_set_extmark(self.buf, ns, 0, 0, { end_col = #lines[1], hl_group = "OrchflowDim" })
  end
  if vim.api.nvim_win_is_valid(self.win) then
    local title = " browse: " .. (self.dir == "" and "./" or (self.dir .. "/")) .. " "
    pcall(vim.api.nvim_win_set_config, self.win, { title = title, title_pos = "center" })
    local row = 1
    for n, e in ipairs(self.entries) do
      if e.name == focus then
        row = n
      end
    end
    pcall(vim.api.nvim_win_set_cursor, self.win, { row, 0 })
  end
end

function Browser:current()
  local row = vim.api.nvim_win_get_cursor(self.win)[1]
  return self.entries and self.entries[row] or nil
end

function Browser:close()
  if vim.api.nvim_win_is_valid(self.win) then
    vim.api.nvim_win_close(self.win, true)
  end
end

-- Run a files.* method; on success `after(result)`, on error report it and redraw as is.
function Browser:op(method, params, after)
  host.call(method, params, function(err, res)
    if err then
      host.report(err)
      return self:refresh()
    end
    after(res)
  end)
end

function Browser:enter()
  local e = self:current()
  if not e then
    return
  end
  if e.dir then
    self.dir = join(self.dir, e.name)
    return self:refresh("")
  end
  local path = self:abs(join(self.dir, e.name))
  local rel = join(self.dir, e.name)
  self:close()
  vim.cmd.edit(vim.fn.fnameescape(path))
  host.call("files.record_open", { path = rel }, function(err)
    host.report(err)
  end)
end

function Browser:up()
  if self.dir == "" then
    return vim.notify("orchflow: already at the project root", vim.log.levels.WARN)
  end
  local from = basename(self.dir)
  self.dir = parent(self.dir)
  self:refresh(from)
end

function Browser:create()
  vim.ui.input({ prompt = "new file (end with / for a directory): " }, function(name)
    if not name or name == "" then
      return
    end
    local kind = name:sub(-1) == "/" and "dir" or "file"
    local rel = join(self.dir, (name:gsub("/+$", "")))
    self:op("files.create", { path = rel, kind = kind }, function()
      self:refresh(name:match("^[^/]+"))
    end)
  end)
end

function Browser:rename()
  local e = self:current()
  if not e then
    return
  end
  local rel = join(self.dir, e.name)
  vim.ui.input({ prompt = "rename to: ", default = e.name }, function(name)
    if not name or name == "" or name == e.name then
      return
    end
    self:op("files.rename", { path = rel, name = name }, function(res)
      M.follow_buffers(self:abs(rel), self:abs(res.path))
      self:refresh(basename(res.path))
    end)
  end)
end

-- A target ending in / means "into that directory", as with mv and cp.
local function target_of(to, name)
  to = to:gsub("^%./", "")
  if to:sub(-1) == "/" then
    return to .. name
  end
  return to
end

function Browser:transfer(method, verb)
  local e = self:current()
  if not e then
    return
  end
  local rel = join(self.dir, e.name)
  vim.ui.input({ prompt = verb .. " " .. rel .. " to: ", default = rel }, function(to)
    if not to or to == "" or to == rel then
      return
    end
    self:op(method, { path = rel, to = target_of(to, e.name) }, function(res)
      if method == "files.move" then
        M.follow_buffers(self:abs(rel), self:abs(res.path))
      end
      vim.notify(("orchflow: %s %s to %s"):format(verb == "move" and "moved" or "copied", rel, res.path))
      self:refresh()
    end)
  end)
end

function Browser:delete()
  local e = self:current()
  if not e then
    return
  end
  local rel = join(self.dir, e.name) .. (e.dir and "/" or "")
  vim.ui.select({ "Move to trash", "Cancel" }, { prompt = ("Delete %s?"):format(rel) }, function(choice)
    if choice ~= "Move to trash" then
      return
    end
    self:op("files.delete", { path = join(self.dir, e.name) }, function()
      vim.notify(("orchflow: %s moved to the trash (:Orchflow trash restores it)"):format(rel))
      self:refresh()
    end)
  end)
end

function Browser:_keys()
  local function map(lhs, fn)
    vim.keymap.set("n", lhs, function()
      fn(self)
    end, { buffer = self.buf, nowait = true, silent = true })
  end
  for _, lhs in ipairs({ "<CR>", "l" }) do
    map(lhs, Browser.enter)
  end
  for _, lhs in ipairs({ "-", "<BS>", "h" }) do
    map(lhs, Browser.up)
  end
  map("a", Browser.create)
  map("r", Browser.rename)
  map("m", function(b)
    b:transfer("files.move", "move")
  end)
  map("c", function(b)
    b:transfer("files.copy", "copy")
  end)
  map("d", Browser.delete)
  map("R", function(b)
    b:refresh()
  end)
  map("T", function(b)
    b:close()
    M.open_trash()
  end)
end

-- trash ---------------------------------------------------------------------------

local function trash_line(e)
  local path = e.path or e.original
  local when = os.date("%Y-%m-%d %H:%M:%S", math.floor(e.deleted_at))
  return ("%s%s  %s  %s"):format(path, e.kind == "dir" and "/" or "", when, e.kind)
end

function M.open_trash(_args, _info)
  local win, buf = require("orchflow.float").open({ "(loading)" }, {
    title = "orchflow trash",
    footer = "<CR> restore  R refresh  q close",
  })
  local entries = {}
  local function draw()
    host.call("files.trash", {}, function(err, res)
      if err then
        return host.report(err)
      end
      if not vim.api.nvim_buf_is_valid(buf) then
        return -- closed while the answer travelled
      end
      entries = res.entries
      local lines = vim.tbl_map(trash_line, entries)
      if #lines == 0 then
        lines = { "(the trash is empty)" }
      end
      vim.bo[buf].modifiable = true
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
      vim.bo[buf].modifiable = false
      vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
      for n, line in ipairs(lines) do
        local e = entries[n]
        local path_end = e and #(e.path or e.original) + (e.kind == "dir" and 1 or 0) or 0
        vim.api.nvim_buf_set_extmark(buf, ns, n - 1, path_end, { end_col = #line, hl_group = "OrchflowDim" })
      end
    end)
  end
  vim.keymap.set("n", "<CR>", function()
    local e = entries[vim.api.nvim_win_get_cursor(win)[1]]
    if not e then
      return
    end
    host.call("files.restore", { id = e.id }, function(err, res)
      if err then
        host.report(err)
      else
        vim.notify(("orchflow: restored %s"):format(res.path))
      end
      draw()
    end)
  end, { buffer = buf, nowait = true, desc = "orchflow: restore" })
  vim.keymap.set("n", "R", draw, { buffer = buf, nowait = true, desc = "orchflow: refresh" })
  draw()
  return win, buf
end

return M
