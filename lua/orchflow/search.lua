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

--- Apply replace_preview hunks through buffers (bottom-up), write each file.
--- A buffer with unsaved changes is left alone: its text is not what the preview saw.
function M.apply(root, files)
  local changed, count, skipped = 0, 0, {}
  for _, f in ipairs(files) do
    local path = root .. "/" .. f.path
    local buf = vim.fn.bufadd(path)
    vim.fn.bufload(buf)
    if vim.bo[buf].modified then
      skipped[#skipped + 1] = f.path .. " (unsaved changes)"
    else
      local ok, e = pcall(function()
        for n = #f.hunks, 1, -1 do
          local h = f.hunks[n]
          vim.api.nvim_buf_set_lines(buf, h.start, h["end"], true, h.lines)
        end
        vim.bo[buf].buflisted = true
        vim.api.nvim_buf_call(buf, function()
          vim.cmd("silent keepalt write")
        end)
      end)
      if ok then
        changed, count = changed + 1, count + f.replacements
      else
        skipped[#skipped + 1] = ("%s (%s)"):format(f.path, e)
      end
    end
  end
  local msg = ("orchflow: replaced %d in %d files; :undo in a buffer reverts it"):format(count, changed)
  if #skipped > 0 then
    msg = msg .. "; skipped: " .. table.concat(skipped, ", ")
  end
  vim.notify(msg, #skipped > 0 and vim.log.levels.WARN or vim.log.levels.INFO)
  return changed, skipped
end

return M
