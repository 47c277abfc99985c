-- :Orchflow search [options] [pattern] — ripgrep results streamed into a picker
-- (search.project pushes search.results events), narrowed as the user types,
-- previewed, sent to the quickfix list, and search-and-replace through buffers.
--
-- Narrowing runs in Neovim (picker.lua: a LuaJIT subsequence test, then
-- matchfuzzypos ranking for up to 1000 hits; ~4-10 ms per keystroke at 10000
-- results): the results already live here, and a round trip to the host's
-- rapidfuzz per keystroke would ship every result line back to Python.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")
local picker = require("orchflow.picker")

M.usage = ":Orchflow search [-i|-s|-S] [-w] [-F] [-g GLOB] [-g !GLOB] [--hidden] [-L] [-C N] [--max N]"
  .. " [--replace TEXT] [--] PATTERN"

local counter = 0
local current = nil -- the open search picker, closed when another search starts

local function new_id()
  counter = counter + 1
  return ("nvim%d-%d"):format(vim.fn.getpid(), counter)
end

local function number(flag, value, lo, hi)
  local n = tonumber(value)
  if not n or n ~= math.floor(n) or n < lo or n > hi then
    error(("%s needs a whole number from %d to %d, got %s"):format(flag, lo, hi, vim.inspect(value)), 0)
  end
  return n
end

--- Parse :Orchflow search words into { pattern, params, replace }.
--- params are search.project's options (case, whole_word, literal, include, exclude,
--- hidden, follow, context, max_results).
function M.parse(words)
  local params = { include = {}, exclude = {} }
  local pattern, replace = {}, nil
  local i = 1
  local function value(flag)
    i = i + 1
    if words[i] == nil then
      error(("%s needs a value; usage: %s"):format(flag, M.usage), 0)
    end
    return words[i]
  end
  local only_pattern = false
  while i <= #words do
    local w = words[i]
    local flag, attached = w:match("^(%-%-[%w-]+)=(.*)$")
    if not flag then
      flag, attached = w:match("^(%-[gCm])(.+)$")
    end
    flag = flag or w
    local function val()
      if attached then
        return attached
      end
      return value(flag)
    end
    if only_pattern or not w:match("^%-") or w == "-" then
      pattern[#pattern + 1] = w
    elseif w == "--" then
      only_pattern = true
    elseif flag == "-i" or flag == "--ignore-case" then
      params.case = "insensitive"
    elseif flag == "-s" or flag == "--case-sensitive" then
      params.case = "sensitive"
    elseif flag == "-S" or flag == "--smart-case" then
      params.case = "smart"
    elseif flag == "-w" or flag == "--word-regexp" then
      params.whole_word = true
    elseif flag == "-F" or flag == "--fixed-strings" then
      params.literal = true
    elseif flag == "-g" or flag == "--glob" then
      local g = val()
      if g:sub(1, 1) == "!" then
        params.exclude[#params.exclude + 1] = g:sub(2)
      else
        params.include[#params.include + 1] = g
      end
    elseif flag == "--hidden" or flag == "-." then
      params.hidden = true
    elseif flag == "-L" or flag == "--follow" then
      params.follow = true
    elseif flag == "-C" or flag == "--context" then
      params.context = number(flag, val(), 0, 20)
    elseif flag == "-m" or flag == "--max" then
      params.max_results = number(flag, val(), 1, 1000000)
    elseif flag == "-r" or flag == "--replace" then
      replace = val()
    else
      error(("unknown option %s; usage: %s"):format(w, M.usage), 0)
    end
    i = i + 1
  end
  if #params.include == 0 then
    params.include = nil
  end
  if #params.exclude == 0 then
    params.exclude = nil
  end
  return { pattern = table.concat(pattern, " "), params = params, replace = replace }
end

--- Split a command's argument string: 'single' and "double" quotes group words; a
--- backslash escapes whitespace or a quote and is kept before anything
--- else, so regexes such as \bword\b pass unchanged.
function M.split_args(s)
  local out, cur, quote, esc, has = {}, {}, nil, false, false
  for ch in (s or ""):gmatch(".") do
    if esc then
      -- only whitespace and quotes are escaped: regexes keep \b, \(
      if not (ch:match("%s") or ch == "'" or ch == '"') then
        cur[#cur + 1] = "\\"
      end
      cur[#cur + 1], esc, has = ch, false, true
    elseif ch == "\\" and quote ~= "'" then
      esc = true
    elseif quote then
      if ch == quote then
        quote = nil
      else
        cur[#cur + 1] = ch
      end
    elseif ch == "'" or ch == '"' then
      quote, has = ch, true
    elseif ch:match("%s") then
      if has or #cur > 0 then
        out[#out + 1] = table.concat(cur)
        cur, has = {}, false
      end
    else
      cur[#cur + 1] = ch
    end
  end
  if quote then
    error(("unterminated %s quote in %q"):format(quote, s), 0)
  end
  if esc then
    cur[#cur + 1] = "\\"
  end
  if has or #cur > 0 then
    out[#out + 1] = table.concat(cur)
  end
  return out
end

--- The words after the subcommand: from info.args (keeps quotes) when given, else `rest`.
function M.words(rest, info, depth)
  if info and type(info.args) == "string" and info.args ~= "" then
    local words = M.split_args(info.args)
    return vim.list_slice(words, (depth or 1) + 1)
  end
  return rest or {}
end

local function label(m)
  return ("%s:%d:%d: %s"):format(m.path, m.line, m.column, m.shown)
end

-- Leading blanks are dropped from the shown text; submatch offsets move with it.
local function decorate(matches)
  for _, m in ipairs(matches) do
    local text = (m.text or ""):gsub("\r?\n$", "")
    local blanks = #(text:match("^%s*"))
    m.shown, m.shift = text:sub(blanks + 1), blanks
    m.label = label(m)
  end
  return matches
end

local function render(m)
  local line = m.label
  local prefix = #line - #m.shown
  local hls = { { 0, #m.path, "OrchflowDim" }, { #m.path, prefix, "OrchflowDim" } }
  for _, s in ipairs(m.submatches or {}) do
    hls[#hls + 1] = { prefix + s[1] - m.shift, prefix + s[2] - m.shift, "OrchflowMatch" }
  end
  local rows = {}
  local function context(list)
    for _, c in ipairs(list or {}) do
      rows[#rows + 1] = { "    │ " .. c:gsub("\r?\n$", ""), { { 0, -1, "OrchflowDim" } } }
    end
  end
  context(m.context_before)
  rows[#rows + 1] = { line, hls }
  rows.main = #rows
  context(m.context_after)
  return rows
end

local function plural(n, word)
  return ("%d %s%s"):format(n, word, n == 1 and "" or (word:sub(-1) == "h" and "es" or "s"))
end

-- Counted from what arrived: ripgrep's own file count is missing when --max stopped it.
local function summary_text(s, matches, files)
  local parts = { ("%s in %s"):format(plural(matches, "match"), plural(files, "file")) }
  if s.truncated then
    parts[#parts + 1] = "capped (--max)"
  end
  if s.errors and #s.errors > 0 then
    parts[#parts + 1] = ("%d unreadable"):format(#s.errors)
  end
  return table.concat(parts, ", ")
end

local function open_match(root, m)
  vim.cmd.edit(vim.fn.fnameescape(root .. "/" .. m.path))
  pcall(vim.api.nvim_win_set_cursor, 0, { m.line, math.max(m.column - 1, 0) })
  vim.cmd("normal! zv")
end

local function to_quickfix(root, items, pattern)
  local qf = {}
  for _, m in ipairs(items) do
    qf[#qf + 1] = { filename = root .. "/" .. m.path, lnum = m.line, col = m.column, text = m.shown }
  end
  vim.fn.setqflist({}, " ", { title = "orchflow search: " .. pattern, items = qf })
  vim.cmd("botright copen")
end

--- Stream a search into a new picker. spec: { pattern, params } from M.parse.
function M.start(spec)
  if current and not current.closed then
    current:close()
  end
  local root = vim.fn.getcwd()
  local sid = new_id()
  local finished = false
  local count, files, seen = 0, 0, {}
  local unsub = function() end
  local p
  p = picker.open({
    title = "search: " .. spec.pattern,
    text = function(m)
      return m.label
    end,
    render = render,
    preview = function(m, buf, win)
      local ranges = {}
      for _, s in ipairs(m.submatches or {}) do
        ranges[#ranges + 1] = { s[1], s[2] }
      end
      picker.preview_file(buf, win, root .. "/" .. m.path, m.line, ranges)
    end,
    on_accept = function(m)
      open_match(root, m)
    end,
    on_quickfix = function(items)
      to_quickfix(root, items, spec.pattern)
    end,
    keys = {
      {
        "<C-r>",
        function(pk)
          pk:close()
          M.ask_replace(spec)
        end,
        "replace",
      },
    },
    on_close = function()
      unsub()
      if not finished then
        host.call("search.cancel", { search_id = sid }, function() end)
      end
    end,
  })
  current = p
  unsub = events.on("search.results", function(data)
    if data.search_id ~= sid or p.closed then
      return
    end
    if data.matches and #data.matches > 0 then
      for _, m in ipairs(data.matches) do
        if not seen[m.path] then
          seen[m.path], files = true, files + 1
        end
      end
      count = count + #data.matches
      p:append(decorate(data.matches))
    end
    if data.done then
      finished = true
      if data.error then
        p:set_status("error: " .. data.error)
      elseif data.summary then
        p:set_status(summary_text(data.summary, count, files))
      end
    end
  end)
  p:set_status("searching…")
  local params = vim.tbl_extend("force", spec.params, { pattern = spec.pattern, search_id = sid })
  host.call("search.project", params, function(err)
    finished = true
    if err then
      if not p.closed then
        p:set_status("error")
      end
      host.report(err)
    end
  end)
  return p
end

M.options = {
  "--",
  "--case-sensitive",
  "--context",
  "--fixed-strings",
  "--follow",
  "--glob",
  "--hidden",
  "--ignore-case",
  "--max",
  "--replace",
  "--smart-case",
  "--word-regexp",
  "-C",
  "-F",
  "-L",
  "-S",
  "-g",
  "-i",
  "-m",
  "-r",
  "-s",
  "-w",
}

--- Completion for :Orchflow search: its options, once the user starts one with "-".
function M.complete_options(arglead, _rest)
  return arglead:sub(1, 1) == "-" and M.options or {}
end

function M.open(args, info)
  local spec = M.parse(M.words(args, info, 1))
  local function go(pattern)
    if not pattern or pattern == "" then
      return
    end
    spec.pattern = pattern
    if spec.replace then
      M.replace(spec, spec.replace)
    else
      M.start(spec)
    end
  end
  if spec.pattern == "" then
    vim.ui.input({ prompt = "orchflow search: " }, go)
  else
    go(spec.pattern)
  end
end

-- search and replace ----------------------------------------------------------------

function M.ask_replace(spec)
  vim.ui.input({ prompt = ("replace %s with: "):format(spec.pattern) }, function(text)
    if text ~= nil then
      M.replace(spec, text)
    end
  end)
end

--- Ask the host for the diff of replacing spec.pattern with `text`, show it, apply on `y`.
function M.replace(spec, text)
  local root = vim.fn.getcwd()
  local params = vim.tbl_extend("force", spec.params, { pattern = spec.pattern, replacement = text })
  params.max_results = nil
  host.call("search.replace_preview", params, function(err, res)
    if err then
      return host.report(err)
    end
    for _, e in ipairs(res.errors or {}) do
      vim.notify("orchflow: " .. e, vim.log.levels.WARN)
    end
    if #res.files == 0 then
      return vim.notify(("orchflow: nothing to replace for %s"):format(spec.pattern), vim.log.levels.WARN)
    end
    M.show_preview(root, spec.pattern, text, res)
  end)
end

function M.show_preview(root, pattern, text, res)
  local lines = {}
  for _, f in ipairs(res.files) do
    vim.list_extend(lines, vim.split(f.diff:gsub("\n$", ""), "\n", { plain = true }))
  end
  if res.truncated then
    lines[#lines + 1] = "(more files match: only these are changed)"
  end
  local title = ("replace %s → %s: %d in %d files"):format(pattern, text, res.replacements, #res.files)
  local win, buf = require("orchflow.float").open(lines, {
    title = title,
    footer = "y apply  n cancel",
    filetype = "diff",
  })
  local function close()
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
  end
  vim.keymap.set("n", "y", function()
    close()
    M.apply(root, res.files)
  end, { buffer = buf, nowait = true, desc = "orchflow: apply the replacement" })
  vim.keymap.set("n", "n", close, { buffer = buf, nowait = true, desc = "orchflow: cancel" })
  return win, buf
end

-- applying a replacement -------------------------------------------------------------
--
-- The tree may have changed since the preview (agents edit it too), so each file is
-- all-or-nothing: its current text must still read every hunk's `old` lines, else
-- nothing is written to it and it is named in the one message at the end. A buffer with
-- unsaved edits is refused; an unmodified buffer is first reloaded if its file changed on
-- disk (:checktime with 'autoread'), then checked. A file not loaded is loaded into a
-- buffer (so :undo reverts the replacement there too) and unloaded again if refused.
-- Writes are atomic: the buffer goes to a temporary file next to the real one (resolving
-- symlinks), which is renamed over it, so nobody ever reads a half-written file.

local function same_lines(a, b)
  if #a ~= #b then
    return false
  end
  for i = 1, #a do
    if a[i] ~= b[i] then
      return false
    end
  end
  return true
end

-- The first hunk whose old lines are not the buffer's text any more, or nil. A hunk
-- without old lines (from an older host) cannot be checked, so it counts as stale.
local function stale_hunk(buf, hunks)
  local count = vim.api.nvim_buf_line_count(buf)
  for _, h in ipairs(hunks) do
    if type(h.old) ~= "table" or h["end"] > count then
      return h
    end
    if not same_lines(vim.api.nvim_buf_get_lines(buf, h.start, h["end"], false), h.old) then
      return h
    end
  end
end

-- Reload an unmodified buffer whose file changed on disk, without asking, as :checktime
-- does under 'autoread' (":checktime N" checks at once; a bare :checktime from code waits).
-- noautocmd: a FileChangedShell handler must not leave the buffer stale.
local function sync_with_disk(buf)
  vim.api.nvim_buf_call(buf, function()
    vim.cmd("setlocal autoread")
    local ok, err = pcall(vim.cmd, "silent noautocmd checktime " .. buf)
    vim.cmd("set autoread<")
    if not ok then
      error(err, 0)
    end
  end)
end

local function same_file(a, b)
  return a and b and a.ino == b.ino and a.size == b.size and a.mtime.sec == b.mtime.sec
    and a.mtime.nsec == b.mtime.nsec
end

-- Write buf to a temporary file beside `real`, give it real's mode, rename it over real.
-- `seen` is real's stat when the buffer was checked: if the file changed since, refuse.
local function write_atomic(buf, real, seen)
  local tmp = ("%s/.%s.orchflow-%d~"):format(vim.fs.dirname(real), vim.fs.basename(real), vim.fn.getpid())
  local fixeol = vim.bo[buf].fixendofline
  vim.bo[buf].fixendofline = false -- no final newline added that the preview did not show
  local ok, err = pcall(vim.api.nvim_buf_call, buf, function()
    vim.cmd("silent noautocmd keepalt write! " .. vim.fn.fnameescape(tmp))
  end)
  vim.bo[buf].fixendofline = fixeol
  if ok then
    ok, err = vim.uv.fs_chmod(tmp, bit.band(seen.mode, 4095))
  end
  if ok and not same_file(vim.uv.fs_stat(real), seen) then
    ok, err = false, "changed on disk while applying"
  end
  if ok then
    ok, err = vim.uv.fs_rename(tmp, real)
  end
  if not ok then
    vim.uv.fs_unlink(tmp)
    error(err, 0)
  end
end

-- After the rename the buffer holds the file's text but not its new time, so the next
-- :checktime would reload it (under 'autoread') and put a step of its own on top of the
-- replacement in the undo list. Reload it now and step back over that (same-text) step:
-- one :undo still reverts the whole replacement.
local function learn_written(buf)
  vim.api.nvim_buf_call(buf, function()
    local seq = vim.fn.undotree().seq_cur
    sync_with_disk(buf)
    if vim.fn.undotree().seq_cur ~= seq then
      vim.cmd("silent undo")
    end
  end)
  vim.bo[buf].modified = false
end

-- Apply one file's hunks; nil when written, else why it was refused.
local function apply_file(path, hunks)
  local real = vim.uv.fs_realpath(path)
  if not real then
    return "no longer exists"
  end
  local existed = vim.fn.bufexists(path) == 1
  local buf = vim.fn.bufadd(path)
  local was_loaded = vim.api.nvim_buf_is_loaded(buf)
  local function forget()
    if not existed then
      pcall(vim.api.nvim_buf_delete, buf, { force = true })
    elseif not was_loaded then
      pcall(vim.api.nvim_buf_delete, buf, { unload = true })
    end
  end
  if was_loaded and vim.bo[buf].modified then
    return "its buffer has unsaved changes"
  end
  local seen = vim.uv.fs_stat(real) -- before reading it: a later change shows at the rename
  local ok, err = pcall(function()
    if was_loaded then
      sync_with_disk(buf)
    else
      vim.fn.bufload(buf)
    end
    -- a reload is its own undo step, not part of the replacement
    vim.api.nvim_buf_call(buf, function()
      vim.cmd("let &g:undolevels = &g:undolevels")
    end)
  end)
  if not ok then
    forget()
    return err
  end
  if vim.bo[buf].modified then
    forget()
    return "its buffer has unsaved changes"
  end
  local stale = stale_hunk(buf, hunks)
  if stale then
    forget()
    return ("line %d changed since the preview"):format(stale.start + 1)
  end
  local before = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  ok, err = pcall(function()
    for n = #hunks, 1, -1 do
      local h = hunks[n]
      vim.api.nvim_buf_set_lines(buf, h.start, h["end"], true, h.lines)
    end
    write_atomic(buf, real, seen)
  end)
  if not ok then
    -- nothing was written: take the buffer back to what it was
    pcall(vim.api.nvim_buf_call, buf, function()
      vim.cmd("silent undo")
    end)
    if not same_lines(vim.api.nvim_buf_get_lines(buf, 0, -1, false), before) then
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, before)
    end
    vim.bo[buf].modified = false
    forget()
    return ("not written: %s"):format(err)
  end
  vim.bo[buf].modified = false
  vim.bo[buf].buflisted = true
  pcall(learn_written, buf)
end

--- Apply replace_preview hunks through buffers, each file all-or-nothing (see above).
--- Returns the number of files written and the list of refused "path: why".
function M.apply(root, files)
  local changed, count, refused = 0, 0, {}
  for _, f in ipairs(files) do
    local why = apply_file(root .. "/" .. f.path, f.hunks)
    if why then
      refused[#refused + 1] = ("%s: %s"):format(f.path, why)
    else
      changed, count = changed + 1, count + f.replacements
    end
  end
  local msg
  if changed > 0 then
    msg = ("orchflow: replaced %d in %s; :undo in a buffer reverts it"):format(count, plural(changed, "file"))
  else
    msg = "orchflow: replaced nothing"
  end
  if #refused > 0 then
    msg = ("%s\nrefused %s, nothing written to %s:\n  %s"):format(
      msg,
      plural(#refused, "file"),
      #refused == 1 and "it" or "them",
      table.concat(refused, "\n  ")
    )
  end
  vim.notify(msg, #refused > 0 and vim.log.levels.WARN or vim.log.levels.INFO)
  return changed, refused
end

return M
