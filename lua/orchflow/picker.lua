-- A float picker: a prompt line over a results list, an optional preview on the
-- right. Results may stream in (append) while the user types; typing narrows them
-- with Neovim's own fuzzy matcher, or with a filter the caller supplies (a host
-- query such as files.list). Every async answer is checked against the picker's
-- current query and its `closed` flag, so a late answer never touches a closed
-- or re-queried picker.
local M = {}

local Picker = {}
Picker.__index = Picker

local ns = vim.api.nvim_create_namespace("orchflow_picker")
local ns_sel = vim.api.nvim_create_namespace("orchflow_picker_selection")

-- Rows actually drawn; the rest are counted and still go to the quickfix list.
M.MAX_SHOWN = 1000
-- Streaming appends while a query is typed re-filter at most this often.
M.REFILTER_MS = 40
-- Matches are ranked (matchfuzzypos) when at most this many pass the subsequence
-- test; more stay in arrival order until the query narrows them. Ranking 1000 costs
-- ~5 ms, 10000 ~50 ms: over a keystroke's budget.
M.RANK_MAX = 1000

local function border()
  local b = require("orchflow.config").get().float.border
  if b == vim.NIL or b == nil then
    return vim.o.winborder == "" and "rounded" or nil
  end
  return b
end

local size = require("orchflow.float").size

local WINHL = table.concat({
  "NormalFloat:OrchflowNormal",
  "FloatBorder:OrchflowBorder",
  "FloatTitle:OrchflowTitle",
  "FloatFooter:OrchflowFooter",
}, ",")

local function scratch(name)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  pcall(vim.api.nvim_buf_set_name, buf, ("orchflow://%s/%d"):format(name, buf))
  return buf
end

local function titled(text)
  return text and text ~= "" and (" " .. text .. " ") or nil
end

--- Open a picker. opts:
---   title        prompt window title
---   prompt       initial query text
---   items        initial items
---   text(item)   the string fuzzy filtering matches (default item.text)
---   render(item, positions) -> rows: { { line, hls }, ..., main = n }; row `main` (default 1)
---                 is the one selected, others are context,
---                 hls = { { start_col, end_col, group }, ... } (byte columns, end exclusive);
---                 `positions` are byte offsets of matched characters in text(item)
---   filter       "fuzzy" (default) or fun(query, done) calling done({ { item = x, pos = byte
---                 offsets (or character indexes with chars = true) }, ... }); stale answers are dropped
---   debounce_ms  delay before a custom filter runs (default 15)
---   on_accept(item, picker)     <CR>; the picker is closed first
---   accept_hint  footer text for <CR> (default "<CR> open")
---   on_quickfix(items, picker)  <C-q> (omitted: no quickfix key)
---   preview(item, buf, win)     fills the preview window (omitted: no preview)
---   keys = { { lhs, fn(picker), hint } }  extra keys (insert and normal mode)
---   on_close()
function M.open(opts)
    local self = setmetatable({
    opts = opts,
    all = {}, ---@type any[]
    keyed = {}, ---@type { text: string, i: integer }[]
    lower = {}, ---@type string[] lower-cased texts for the subsequence test
    shown = {}, ---@type { item: any, pos: integer[]|nil }[]
    row_of = {}, ---@type integer[] first buffer row (0-based) of each shown entry
    nrows = 0,
    sel = 1,
    query = opts.prompt or "",
    seq = 0,
    answered = 0,
    closed = false,
    status = "",
    timers = {},
  }, Picker)
  self.text = opts.text or function(item)
    return item.text
  end
  self:_layout()
  self:_keymaps()
  if opts.items then
    self:append(opts.items)
  else
    self:_render()
  end
  if self.query ~= "" or type(opts.filter) == "function" then
    self:_on_query(self.query)
  end
  vim.cmd("startinsert!")
  return self
end

function Picker:_layout()
  local cfg = require("orchflow.config").get().float
  local bd = border()
  local b = (bd == "none" or (bd == nil and vim.o.winborder == "none")) and 0 or 2
  local editor_h = vim.o.lines - vim.o.cmdheight - 2
  local total_w = math.max(size(cfg.width, vim.o.columns - 2), 30)
  local total_h = math.max(size(cfg.height, editor_h), 8)
  local list_w = self.opts.preview and math.floor((total_w - b) * 0.55) or total_w
  local row0 = math.max(0, math.floor((editor_h - total_h) / 2))
  local col0 = math.max(0, math.floor((vim.o.columns - total_w) / 2))
  local base = { relative = "editor", style = "minimal", border = bd }
  if b == 0 then
    base.border = "none"
  end
  local function win(buf, cfg_, enter)
    local w = vim.api.nvim_open_win(buf, enter, vim.tbl_extend("force", base, cfg_))
    vim.wo[w].winhighlight = WINHL
    vim.wo[w].wrap = false
    return w
  end
  self.origin = vim.api.nvim_get_current_win()
  self.list_buf = scratch("picker-results")
  self.list_win = win(self.list_buf, {
    row = row0 + 1 + b,
    col = col0,
    width = list_w,
    height = math.max(3, total_h - 1 - 2 * b),
    focusable = false,
    footer = b > 0 and titled(self:_footer(list_w)) or nil,
    footer_pos = b > 0 and "right" or nil,
    title = b > 0 and " " or nil,
    title_pos = b > 0 and "left" or nil,
  }, false)
  vim.wo[self.list_win].cursorline = false
  vim.bo[self.list_buf].modifiable = false
  if self.opts.preview then
    self.preview_buf = scratch("picker-preview")
    self.preview_win = win(self.preview_buf, {
      row = row0,
      col = col0 + list_w + b,
      width = math.max(10, total_w - list_w - b),
      height = math.max(3, total_h),
      focusable = false,
      title = b > 0 and " preview " or nil,
      title_pos = b > 0 and "center" or nil,
    }, false)
    vim.wo[self.preview_win].number = true
    vim.wo[self.preview_win].cursorline = true
  end
  self.prompt_buf = scratch("picker-prompt")
  vim.api.nvim_buf_set_lines(self.prompt_buf, 0, -1, false, { self.query })
  self.prompt_win = win(self.prompt_buf, {
    row = row0,
    col = col0,
    width = list_w,
    height = 1,
    title = b > 0 and titled(self.opts.title) or nil,
    title_pos = b > 0 and "left" or nil,
  }, true)
  vim.api.nvim_win_set_cursor(self.prompt_win, { 1, #self.query })
  local group = vim.api.nvim_create_augroup("OrchflowPicker" .. self.prompt_buf, { clear = true })
  self.augroup = group
  vim.api.nvim_create_autocmd({ "TextChanged", "TextChangedI" }, {
    group = group,
    buffer = self.prompt_buf,
    callback = function()
      local line = vim.api.nvim_buf_get_lines(self.prompt_buf, 0, 1, false)[1] or ""
      if line ~= self.query then
        self:_on_query(line)
      end
    end,
  })
  -- Leaving the prompt for another window ends the picker (floats would linger otherwise).
  vim.api.nvim_create_autocmd("WinLeave", {
    group = group,
    buffer = self.prompt_buf,
    callback = function()
      vim.schedule(function()
        if not self.closed and vim.api.nvim_get_current_win() ~= self.prompt_win then
          self:close()
        end
      end)
    end,
  })
end

--- Key hints, most important first, as many as fit in `width` (all keys are in :help).
function Picker:_footer(width)
  local hints = { self.opts.accept_hint or "<CR> open", "<Esc> close", "<C-j>/<C-k> move" }
  if self.opts.on_quickfix then
    hints[#hints + 1] = "<C-q> quickfix"
  end
  for _, k in ipairs(self.opts.keys or {}) do
    if k[3] then
      hints[#hints + 1] = k[1] .. " " .. k[3]
    end
  end
  local out = {}
  for _, h in ipairs(hints) do
    local next_ = table.concat(out, "  ") .. (#out > 0 and "  " or "") .. h
    if vim.fn.strdisplaywidth(next_) > width - 4 and #out > 0 then
      break
    end
    out[#out + 1] = h
  end
  return table.concat(out, "  ")
end

function Picker:_keymaps()
  local function map(modes, lhs, fn)
    vim.keymap.set(modes, lhs, fn, { buffer = self.prompt_buf, nowait = true, silent = true })
  end
  local both = { "i", "n" }
  map(both, "<CR>", function()
    self:accept()
  end)
  for _, lhs in ipairs({ "<C-j>", "<C-n>", "<Down>" }) do
    map(both, lhs, function()
      self:move(1)
    end)
  end
  for _, lhs in ipairs({ "<C-k>", "<C-p>", "<Up>" }) do
    map(both, lhs, function()
      self:move(-1)
    end)
  end
  map("n", "j", function()
    self:move(1)
  end)
  map("n", "k", function()
    self:move(-1)
  end)
  for _, lhs in ipairs({ "<Esc>", "<C-c>" }) do
    map(both, lhs, function()
      self:close()
    end)
  end
  map("n", "q", function()
    self:close()
  end)
  if self.opts.on_quickfix then
    map(both, "<C-q>", function()
      self:when_current(function()
        local items = self:filtered()
        self:close()
        self.opts.on_quickfix(items, self)
      end)
    end)
  end
  for _, k in ipairs(self.opts.keys or {}) do
    map(both, k[1], function()
      self:when_current(function()
        k[2](self)
      end)
    end)
  end
end

-- Keys typed in one go reach a mapping before TextChangedI fires: read the prompt now.
function Picker:_sync()
  if self.closed then
    return
  end
  local line = vim.api.nvim_buf_get_lines(self.prompt_buf, 0, 1, false)[1] or ""
  if line ~= self.query then
    self:_on_query(line)
  end
end

--- Run `fn` once the results answer the current query (at once for the fuzzy filter).
function Picker:when_current(fn)
  self:_sync()
  if self.answered == self.seq then
    fn()
  else
    self.waiting = fn
  end
end

--- The items that pass the current query, best first (all of them, not only those drawn).
function Picker:filtered()
  return vim.tbl_map(function(e)
    return e.item
  end, self.shown)
end

function Picker:selected()
  local e = self.shown[self.sel]
  return e and e.item or nil
end

function Picker:accept()
  self:when_current(function()
    self:_accept()
  end)
end

function Picker:_accept()
  local item = self:selected()
  if not item then
    return
  end
  self:close()
  if self.opts.on_accept then
    self.opts.on_accept(item, self)
  end
end

function Picker:close()
  if self.closed then
    return
  end
  self.closed = true
  for _, t in pairs(self.timers) do
    pcall(function()
      t:stop()
      t:close()
    end)
  end
  pcall(vim.api.nvim_del_augroup_by_id, self.augroup)
  for _, w in ipairs({ self.list_win, self.prompt_win, self.preview_win or -1 }) do
    if vim.api.nvim_win_is_valid(w) then
      pcall(vim.api.nvim_win_close, w, true)
    end
  end
  if vim.api.nvim_win_is_valid(self.origin) then
    pcall(vim.api.nvim_set_current_win, self.origin)
  end
  vim.cmd("stopinsert")
  if self.opts.on_close then
    self.opts.on_close()
  end
end

--- Status text, shown as the results window's title ("12 / 340 · searching").
function Picker:set_status(text)
  self.status = text or ""
  self:_title()
end

function Picker:_title()
  if self.closed or not vim.api.nvim_win_is_valid(self.list_win) then
    return
  end
  local cfg = vim.api.nvim_win_get_config(self.list_win)
  if not cfg.border or cfg.border == "none" then
    return
  end
  local count = self.query ~= "" and ("%d / %d"):format(#self.shown, #self.all) or tostring(#self.shown)
  if type(self.opts.filter) == "function" then
    count = tostring(#self.shown)
  end
  local text = self.status ~= "" and (count .. " · " .. self.status) or count
  pcall(vim.api.nvim_win_set_config, self.list_win, { title = " " .. text .. " ", title_pos = "left" })
end

local function timer(self, name, ms, fn)
  local t = self.timers[name]
  if not t then
    t = assert(vim.uv.new_timer())
    self.timers[name] = t
  end
  t:stop()
  t:start(ms, 0, vim.schedule_wrap(function()
    if not self.closed then
      fn()
    end
  end))
end

function Picker:_on_query(q)
  self.query = q
  self.seq = self.seq + 1
  local filter = self.opts.filter
  if type(filter) == "function" then
    local seq = self.seq
    timer(self, "filter", self.opts.debounce_ms or 15, function()
      filter(q, function(results)
        -- stale: the query changed or the picker closed while the answer travelled
        if self.closed or seq ~= self.seq then
          return
        end
        self.answered = seq
        self.shown = results
        self.sel = 1
        self:_render()
        local waiting = self.waiting
        self.waiting = nil
        if waiting then
          waiting()
        end
      end)
    end)
  else
    self:_refilter()
  end
end

-- Every word of the query must be a subsequence of the text, case ignored (what
-- matchfuzzy requires too); LuaJIT does this for 10000 texts in under a millisecond.
local function subsequence(s, word)
  local pos = 1
  for k = 1, #word do
    local found = s:find(word:sub(k, k), pos, true)
    if not found then
      return false
    end
    pos = found + 1
  end
  return true
end

function Picker:_refilter()
  self.answered = self.seq
  if self.query == "" then
    self.shown = vim.tbl_map(function(item)
      return { item = item }
    end, self.all)
  else
    local words = vim.split(self.query:lower(), "%s+", { trimempty = true })
    local hits = {}
    for i, s in ipairs(self.lower) do
      local ok = true
      for _, w in ipairs(words) do
        if not subsequence(s, w) then
          ok = false
          break
        end
      end
      if ok then
        hits[#hits + 1] = i
      end
    end
    local shown = {}
    if #hits <= M.RANK_MAX then
      local candidates = {}
      for n, i in ipairs(hits) do
        candidates[n] = self.keyed[i]
      end
      local res = vim.fn.matchfuzzypos(candidates, self.query, { key = "text" })
      for n, d in ipairs(res[1]) do
        shown[n] = { item = self.all[d.i], pos = res[2][n], chars = true }
      end
    else
      for n, i in ipairs(hits) do
        shown[n] = { item = self.all[i] }
      end
    end
    self.shown = shown
  end
  self.sel = math.min(math.max(self.sel, 1), math.max(#self.shown, 1))
  self:_render()
end

--- Replace every item (pickers with the fuzzy filter).
function Picker:set_items(items)
  self.all, self.keyed, self.lower = {}, {}, {}
  self.shown = {}
  self:append(items)
end

--- Add items (streaming). Without a query they are drawn at once below the others.
function Picker:append(items)
  if self.closed then
    return
  end
  local first = #self.all
  for n, item in ipairs(items) do
    self.all[first + n] = item
    local text = self.text(item)
    self.keyed[first + n] = { text = text, i = first + n }
    self.lower[first + n] = text:lower()
  end
  if type(self.opts.filter) == "function" then
    return
  end
  if self.query == "" then
    local start = #self.shown
    for n, item in ipairs(items) do
      self.shown[start + n] = { item = item }
    end
    self:_draw_from(start + 1)
  else
    timer(self, "refilter", M.REFILTER_MS, function()
      self:_refilter()
    end)
  end
end

-- byte offsets of matched characters (matchfuzzypos gives character indexes)
local function byte_positions(entry, text)
  if not entry.pos then
    return nil
  end
  if not entry.chars then
    return entry.pos
  end
  local out = {}
  for n, c in ipairs(entry.pos) do
    out[n] = vim.fn.byteidx(text, c)
  end
  return out
end

function Picker:_render()
  if self.closed then
    return
  end
  self.row_of, self.nrows = {}, 0
  vim.bo[self.list_buf].modifiable = true
  vim.api.nvim_buf_set_lines(self.list_buf, 0, -1, false, {})
  vim.bo[self.list_buf].modifiable = false
  vim.api.nvim_buf_clear_namespace(self.list_buf, ns, 0, -1)
  self:_draw_from(1)
end

-- Draw shown entries from index `from` on, appended below the rows already drawn.
function Picker:_draw_from(from)
  if self.closed then
    return
  end
  local lines, marks = {}, {}
  local last = math.min(#self.shown, M.MAX_SHOWN)
  for n = from, last do
    local e = self.shown[n]
    local rows = self.opts.render(e.item, byte_positions(e, self.text(e.item)))
    self.row_of[n] = self.nrows + #lines + (rows.main or 1) - 1
    for _, r in ipairs(rows) do
      local row = self.nrows + #lines
      lines[#lines + 1] = r[1]
      for _, h in ipairs(r[2] or {}) do
        marks[#marks + 1] = { row, h[1], h[2], h[3] }
      end
    end
  end
  if #lines > 0 then
    vim.bo[self.list_buf].modifiable = true
    local start = self.nrows
    vim.api.nvim_buf_set_lines(self.list_buf, start, start == 0 and -1 or start, false, lines)
    vim.bo[self.list_buf].modifiable = false
    self.nrows = self.nrows + #lines
    for _, m in ipairs(marks) do
      local len = #(lines[m[1] - start + 1] or "")
      local s, e = math.min(m[2], len), m[3] < 0 and len or math.min(m[3], len)
      if e > s then
        pcall(vim.api.nvim_buf_set_extmark, self.list_buf, ns, m[1], s, { end_col = e, hl_group = m[4] })
      end
    end
  end
  if from == 1 or (self.sel >= from and self.sel <= last) then
    self:_select(self.sel, true)
  end
  self:_title()
end

function Picker:move(delta)
  self:_sync()
  if #self.shown == 0 then
    return
  end
  local n = math.min(#self.shown, M.MAX_SHOWN)
  self:_select(((self.sel - 1 + delta) % n) + 1)
end

function Picker:_select(n, force)
  if self.closed then
    return
  end
  local changed = n ~= self.sel
  self.sel = n
  vim.api.nvim_buf_clear_namespace(self.list_buf, ns_sel, 0, -1)
  local row = self.row_of[n]
  if row then
    vim.api.nvim_buf_set_extmark(self.list_buf, ns_sel, row, 0, {
      line_hl_group = "OrchflowSelection",
      sign_text = ">",
      priority = 50,
    })
    pcall(vim.api.nvim_win_set_cursor, self.list_win, { row + 1, 0 })
  end
  if self.preview_win and (changed or force) then
    self:_preview()
  end
end

function Picker:_preview()
  if not vim.api.nvim_win_is_valid(self.preview_win) then
    return
  end
  local item = self:selected()
  vim.bo[self.preview_buf].modifiable = true
  if item then
    local ok, e = pcall(self.opts.preview, item, self.preview_buf, self.preview_win)
    if not ok then
      vim.api.nvim_buf_set_lines(self.preview_buf, 0, -1, false, { "preview failed: " .. tostring(e) })
    end
  else
    vim.api.nvim_buf_set_lines(self.preview_buf, 0, -1, false, {})
  end
  vim.bo[self.preview_buf].modifiable = false
end

-- Preview helpers ---------------------------------------------------------------

M.PREVIEW_MAX_BYTES = 2 * 1024 * 1024

--- Show `path` in the preview around line `lnum` (1-based), highlighting byte ranges
--- { {start, end}, ... } of that line. Reads at most the lines needed, never a huge file.
function M.preview_file(buf, win, path, lnum, ranges)
  vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  local stat = vim.uv.fs_stat(path)
  if not stat then
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, { path .. ": not found" })
    return
  end
  if stat.type == "directory" then
    local names = {}
    for name, kind in vim.fs.dir(path) do
      names[#names + 1] = name .. (kind == "directory" and "/" or "")
    end
    table.sort(names)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, names)
    return
  end
  if stat.size > M.PREVIEW_MAX_BYTES then
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, { ("(%d bytes: too large to preview)"):format(stat.size) })
    return
  end
  local height = vim.api.nvim_win_get_height(win)
  lnum = lnum or 1
  local ok, lines = pcall(vim.fn.readfile, path, "", lnum + height)
  if not ok then
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, { tostring(lines) })
    return
  end
  for n, l in ipairs(lines) do
    if l:find("%z") or l:find("\r$") then
      lines[n] = l:gsub("%z", "^@"):gsub("\r$", "")
    end
  end
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  local ft = vim.filetype.match({ filename = path })
  vim.bo[buf].syntax = ft or ""
  if lnum <= #lines then
    pcall(vim.api.nvim_win_set_cursor, win, { lnum, 0 })
    vim.api.nvim_win_call(win, function()
      vim.cmd("normal! zz")
    end)
    for _, r in ipairs(ranges or {}) do
      pcall(vim.api.nvim_buf_set_extmark, buf, ns, lnum - 1, r[1], { end_col = r[2], hl_group = "OrchflowMatch" })
    end
  end
end

return M
