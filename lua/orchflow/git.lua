-- :Orchflow git: the repository's status in a float, grouped (staged, unstaged, untracked,
-- conflicts); stage or unstage a file or one hunk, see a file's diff, commit. Every action
-- is a git.* call on the host (orchflow_core/git), answered asynchronously.
local M = {}

local host = require("orchflow.host")

local LETTER = {
  modified = "M",
  added = "A",
  deleted = "D",
  renamed = "R",
  copied = "C",
  typechange = "T",
  untracked = "?",
  unmerged = "U",
}

local SECTIONS = {
  { key = "staged", title = "Staged", hl = "OrchflowOk" },
  { key = "unstaged", title = "Unstaged", hl = "OrchflowWarn" },
  { key = "untracked", title = "Untracked", hl = "OrchflowDim" },
  { key = "conflicted", title = "Conflicts", hl = "OrchflowError" },
}

local FOOTER = "s stage  u unstage  <Tab> hunks  c commit  d diff  <CR> open  r refresh  q close"

local fmt = require("orchflow.fmt")
local present = fmt.present

--- The first line: the branch, or the detached commit, and how it stands to its upstream.
function M.head_line(st)
  local head
  if st.detached then
    head = "HEAD detached at " .. (present(st.head) and st.head:sub(1, 7) or "?")
  elseif not present(st.head) then
    head = "On " .. (st.branch or "?") .. " (no commits yet)"
  else
    head = "On " .. st.branch
  end
  if present(st.upstream) then
    head = head .. ("  ↑%d ↓%d %s"):format(st.ahead or 0, st.behind or 0, st.upstream)
  end
  return head
end

local function entry_line(e)
  local name = e.path
  if present(e.orig_path) then
    name = e.orig_path .. " → " .. e.path
  end
  return ("  %s  %s"):format(LETTER[e.status] or "?", name)
end

--- Lines, highlights ({ line, group, col_end? }) and the item behind each line.
function M.render(st, expanded)
  local lines, hls, items = { M.head_line(st) }, {}, {}
  for _, sec in ipairs(SECTIONS) do
    local entries = st[sec.key] or {}
    if #entries > 0 or sec.key ~= "conflicted" then
      lines[#lines + 1] = ""
      lines[#lines + 1] = ("%s (%d)"):format(sec.title, #entries)
      hls[#hls + 1] = { #lines, "OrchflowTitle" }
      items[#lines] = { section = sec.key, header = true }
    end
    for _, e in ipairs(entries) do
      lines[#lines + 1] = entry_line(e)
      hls[#hls + 1] = { #lines, sec.hl, 3 }
      items[#lines] = { section = sec.key, entry = e }
      local diff = expanded[sec.key .. ":" .. e.path]
      if diff then
        if present(diff.hunks_refused) then
          lines[#lines + 1] = "     (stage the whole file: " .. diff.hunks_refused .. ")"
          hls[#hls + 1] = { #lines, "OrchflowDim" }
          items[#lines] = { section = sec.key, entry = e }
        end
        for _, h in ipairs(diff.hunks or {}) do
          lines[#lines + 1] = "     " .. h.header
          hls[#hls + 1] = { #lines, "OrchflowDim" }
          items[#lines] = { section = sec.key, entry = e, hunk = h }
          for _, text in ipairs(vim.split(h.text:gsub("\n$", ""), "\n", { plain = true })) do
            lines[#lines + 1] = "     " .. text:gsub("\r$", "")
            local first = text:sub(1, 1)
            if first == "+" then
              hls[#hls + 1] = { #lines, "OrchflowOk" }
            elseif first == "-" then
              hls[#hls + 1] = { #lines, "OrchflowError" }
            end
            items[#lines] = { section = sec.key, entry = e, hunk = h }
          end
        end
      end
    end
  end
  return lines, hls, items
end

local View = {}
View.__index = View

function View:key(item)
  return item.section .. ":" .. item.entry.path
end

function View:draw()
  if not vim.api.nvim_buf_is_valid(self.buf) then
    return
  end
  local lines, hls, items = M.render(self.status, self.expanded)
  self.items = items
  vim.bo[self.buf].modifiable = true
  vim.api.nvim_buf_set_lines(self.buf, 0, -1, false, lines)
  vim.bo[self.buf].modifiable = false
  local ns = vim.api.nvim_create_namespace("orchflow-git")
  vim.api.nvim_buf_clear_namespace(self.buf, ns, 0, -1)
  for _, h in ipairs(hls) do
    local len = #lines[h[1]]
    vim.api.nvim_buf_set_extmark(self.buf, ns, h[1] - 1, 0, {
      end_col = math.min(h[3] or len, len),
      hl_group = h[2],
    })
  end
  if vim.api.nvim_win_is_valid(self.win) then
    local row = math.min(vim.api.nvim_win_get_cursor(self.win)[1], #lines)
    vim.api.nvim_win_set_cursor(self.win, { row, 0 })
    local title = " orchflow git: " .. vim.fn.fnamemodify(self.status.root, ":t") .. " "
    vim.api.nvim_win_set_config(self.win, { title = title, title_pos = "center" })
  end
end

function View:call(method, params, cb)
  params.cwd = self.cwd
  host.call(method, params, function(err, result)
    if err then
      return host.report(err)
    end
    cb(result)
  end)
end

--- Read the diff of every expanded file again (hunks change when one is staged), then draw.
function View:reload_expanded()
  local keys = vim.tbl_keys(self.expanded)
  local pending = #keys
  if pending == 0 then
    return self:draw()
  end
  for _, key in ipairs(keys) do
    local section, path = key:match("^(%w+):(.*)$")
    self:call("git.diff", { path = path, staged = section == "staged" }, function(d)
      local listed = false
      for _, e in ipairs(self.status[section] or {}) do
        listed = listed or e.path == path
      end
      self.expanded[key] = listed and d.files[1] or nil
      pending = pending - 1
      if pending == 0 then
        self:draw()
      end
    end)
  end
end

function View:refresh(status)
  if status then
    self.status = status
    return self:reload_expanded()
  end
  self:call("git.status", {}, function(st)
    self.status = st
    self:reload_expanded()
  end)
end

function View:current()
  return self.items[vim.api.nvim_win_get_cursor(self.win)[1]]
end

local function paths_of(entries)
  local out = {}
  for _, e in ipairs(entries) do
    out[#out + 1] = e.path
  end
  return out
end

function View:stage()
  local item = self:current()
  if not item then
    return
  end
  local params
  if item.section == "staged" then
    return vim.notify("orchflow: already staged (u unstages)")
  elseif item.header then
    local paths = paths_of(self.status[item.section] or {})
    if #paths == 0 then
      return
    end
    params = { paths = paths }
  elseif item.hunk then
    params = { hunks = { item.hunk.id } }
  else
    params = { paths = { item.entry.path } }
  end
  self:call("git.stage", params, function(st)
    self:refresh(st)
  end)
end

function View:unstage()
  local item = self:current()
  if not item then
    return
  end
  if item.section ~= "staged" then
    return vim.notify("orchflow: not staged (s stages)")
  end
  local params
  if item.header then
    local paths = paths_of(self.status.staged or {})
    if #paths == 0 then
      return
    end
    params = { paths = paths }
  elseif item.hunk then
    params = { hunks = { item.hunk.id } }
  else
    params = { paths = { item.entry.path } }
  end
  self:call("git.unstage", params, function(st)
    self:refresh(st)
  end)
end

function View:toggle()
  local item = self:current()
  if not item or not item.entry then
    return
  end
  if item.section == "untracked" then
    return vim.notify("orchflow: an untracked file has no diff yet; s stages it")
  end
  local key = self:key(item)
  if self.expanded[key] then
    self.expanded[key] = nil
    return self:draw()
  end
  self:call("git.diff", { path = item.entry.path, staged = item.section == "staged" }, function(d)
    self.expanded[key] = d.files[1] or { hunks = {} }
    self:draw()
  end)
end

function View:diff()
  local item = self:current()
  if not item or not item.entry or item.section == "untracked" then
    return vim.notify("orchflow: put the cursor on a staged or unstaged file")
  end
  local path, staged = item.entry.path, item.section == "staged"
  self:call("git.diff", { path = path, staged = staged }, function(d)
    local lines = {}
    for _, f in ipairs(d.files) do
      if present(f.hunks_refused) then
        lines[#lines + 1] = ("%s: %s"):format(f.path, f.hunks_refused)
      end
      for _, h in ipairs(f.hunks) do
        lines[#lines + 1] = h.header
        for _, text in ipairs(vim.split(h.text:gsub("\n$", ""), "\n", { plain = true })) do
          lines[#lines + 1] = (text:gsub("\r$", ""))
        end
      end
    end
    if #lines == 0 then
      lines[1] = "no changes"
    end
    require("orchflow.float").open(lines, {
      title = ("orchflow diff: %s%s"):format(path, staged and " (staged)" or ""),
      filetype = "diff",
    })
  end)
end

function View:commit()
  if #(self.status.staged or {}) == 0 then
    return vim.notify("orchflow: nothing is staged to commit", vim.log.levels.WARN)
  end
  vim.ui.input({ prompt = "commit message: " }, function(message)
    if not message or vim.trim(message) == "" then
      return vim.notify("orchflow: commit cancelled (empty message)")
    end
    self:call("git.commit", { message = message }, function(done)
      vim.notify(("orchflow: committed %s %s"):format(done.short, done.subject))
      self:refresh()
    end)
  end)
end

function View:open_file()
  local item = self:current()
  if not item or not item.entry then
    return
  end
  local file = self.status.root .. "/" .. item.entry.path
  local line = item.hunk and item.hunk.new_start or nil
  if vim.api.nvim_win_is_valid(self.win) then
    vim.api.nvim_win_close(self.win, true)
  end
  vim.cmd.edit(vim.fn.fnameescape(file))
  if line and line > 0 then
    pcall(vim.api.nvim_win_set_cursor, 0, { math.min(line, vim.api.nvim_buf_line_count(0)), 0 })
  end
end

--- :Orchflow git: the status float of the repository around Neovim's working directory.
function M.open()
  local cwd = vim.fn.getcwd()
  host.call("git.status", { cwd = cwd }, function(err, st)
    if err then
      return host.report(err)
    end
    local win, buf = require("orchflow.float").open({ "" }, {
      title = "orchflow git",
      footer = FOOTER,
      filetype = "orchflow-git",
    })
    local view = setmetatable({ win = win, buf = buf, cwd = cwd, status = st, expanded = {} }, View)
    view:draw()
    local function map(key, desc, fn)
      vim.keymap.set("n", key, function()
        fn(view)
      end, { buffer = buf, nowait = true, desc = "orchflow: " .. desc })
    end
    map("s", "stage the file, hunk or section", View.stage)
    map("u", "unstage the file, hunk or section", View.unstage)
    map("<Tab>", "show or hide the file's hunks", View.toggle)
    map("=", "show or hide the file's hunks", View.toggle)
    map("c", "commit what is staged", View.commit)
    map("d", "the file's diff", View.diff)
    map("r", "read the status again", function(v)
      v:refresh()
    end)
    map("<CR>", "open the file (at the hunk)", View.open_file)
    M._view = view -- for tests and statusline hooks
  end)
end

return M
