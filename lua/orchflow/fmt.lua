-- Small text helpers the floats share (one place for them, not a copy per float).
local M = {}

--- A value that is neither nil nor vim.NIL (JSON null from the host).
function M.present(v)
  return v ~= nil and v ~= vim.NIL
end

--- `s` padded with spaces to `n` display cells.
function M.pad(s, n)
  return s .. string.rep(" ", math.max(0, n - vim.fn.strdisplaywidth(s)))
end

--- "12s ago", "3m ago", "2h ago", "5d ago" for a Unix time.
function M.age(ts)
  local s = math.max(0, os.time() - math.floor(ts or 0))
  if s < 60 then
    return s .. "s ago"
  elseif s < 3600 then
    return math.floor(s / 60) .. "m ago"
  elseif s < 86400 then
    return math.floor(s / 3600) .. "h ago"
  end
  return math.floor(s / 86400) .. "d ago"
end

return M
