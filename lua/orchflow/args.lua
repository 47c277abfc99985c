-- Raw :Orchflow arguments. Neovim's `fargs` split on blanks and eat backslashes, so
-- text rebuilt from them is not what the user typed (runs of spaces, tabs and `\\`
-- change). Commands that take free text ({text}, {cmd}, {value}) read `info.args`
-- instead: a few leading words, then the remainder byte for byte.
local M = {}

local BLANK = "[ \t]"

--- The first `n` blank-separated words of `s` and the untouched remainder.
--- The remainder starts after the one blank that ends the n-th word, so any further
--- blanks belong to it. With fewer than `n` words the remainder is "".
---@param s string
---@param n integer
---@return string[] words, string rest
function M.split(s, n)
  local words, pos = {}, 1
  for _ = 1, n do
    pos = select(2, s:find("^[ \t]*", pos)) + 1
    local first, last = s:find("^[^ \t]+", pos)
    if not first then
      return words, ""
    end
    words[#words + 1] = s:sub(first, last)
    pos = last + 1
  end
  if s:sub(pos, pos):match(BLANK) then
    pos = pos + 1
  end
  return words, s:sub(pos)
end

--- The raw text after the command path of a leaf (commands.run puts it in info.rest);
--- called from Lua without it (require("orchflow").run(path, args)), the words joined.
---@param args string[]
---@param info table|nil
---@return string
function M.rest(args, info)
  if info and type(info.rest) == "string" then
    return info.rest
  end
  return table.concat(args or {}, " ")
end

--- Raise "usage: …" (shown as the command's error) when fewer than `n` arguments came.
function M.need(args, n, usage)
  if #args < n then
    error("usage: " .. usage, 0)
  end
end

return M
