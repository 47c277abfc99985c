-- ACP agents' fs/* through this Neovim's buffers. The orchestrator asks (the editor.fs
-- event: {request_id, op = "read"|"write", path, content?}, path already confined to the
-- agent's cwd and resolved); the answer goes back with editor.fs_reply. Nothing waits
-- here: the event arrives through an async call and the reply is a host call.
--
-- read:  a loaded buffer of that file answers with its text, unsaved edits included.
-- write: the buffer's lines are replaced in one nvim_buf_set_lines (one undo step: `u`
--        brings the old text back, leaving the buffer modified) and the buffer is then
--        written (`:write`, autocmds run as for the user's own save), so what the agent
--        wrote is on disk for its next step (a test run in a terminal) and the buffer is
--        not left modified. A read-only buffer or a failed write is reported to the agent.
-- A file that is not loaded answers loaded = false: the orchestrator uses the disk.
local M = {}

local host = require("orchflow.host")
local events = require("orchflow.events")

--- The loaded, file-backed buffer showing `path` (an absolute, resolved path), or nil.
function M.find(path)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].buftype == "" then
      local name = vim.api.nvim_buf_get_name(buf)
      if name ~= "" and (name == path or vim.uv.fs_realpath(name) == path) then
        return buf
      end
    end
  end
  return nil
end

--- The buffer's text as the file would hold it (a final newline when 'eol' or 'fixeol').
function M.text(buf)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  if #lines == 1 and lines[1] == "" then
    return ""
  end
  local text = table.concat(lines, "\n")
  if vim.bo[buf].eol or (vim.bo[buf].fixeol and not vim.bo[buf].binary) then
    text = text .. "\n"
  end
  return text
end

--- Replace the buffer's text with `content` in one change (only the lines that differ,
--- so cursors and marks elsewhere stay) and write it. Returns saved, error.
function M.write(buf, content)
  if vim.bo[buf].readonly or not vim.bo[buf].modifiable then
    return false, "the buffer is read-only in Neovim"
  end
  local new = vim.split(content, "\n", { plain = true })
  local eol = #new > 1 and new[#new] == ""
  if eol then
    new[#new] = nil
  end
  local old = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local first = 1
  while first <= #old and first <= #new and old[first] == new[first] do
    first = first + 1
  end
  local tail = 0
  while tail < #old - first + 1 and tail < #new - first + 1 and old[#old - tail] == new[#new - tail] do
    tail = tail + 1
  end
  if first <= #old or first <= #new then
    local repl = {}
    for i = first, #new - tail do
      repl[#repl + 1] = new[i]
    end
    vim.api.nvim_buf_set_lines(buf, first - 1, #old - tail, false, repl)
  end
  vim.bo[buf].eol = eol
  local ok, err = pcall(vim.api.nvim_buf_call, buf, function()
    vim.cmd("silent keepalt lockmarks write!")
  end)
  if not ok then
    return false, (tostring(err):gsub("^.-:%d+: ", ""))
  end
  return true, nil
end

local function reply(params)
  host.call("editor.fs_reply", params, function(err)
    if err then
      vim.notify("orchflow: could not answer an agent's file request: " .. err.message, vim.log.levels.WARN)
    end
  end)
end

events.on("editor.fs", function(req)
  local buf = M.find(req.path)
  if not buf then
    return reply({ request_id = req.request_id, loaded = false })
  end
  if req.op == "read" then
    return reply({ request_id = req.request_id, loaded = true, content = M.text(buf) })
  end
  if req.op == "write" then
    local saved, err = M.write(buf, req.content or "")
    return reply({ request_id = req.request_id, loaded = true, saved = saved, error = err })
  end
  reply({ request_id = req.request_id, loaded = true, error = ("unknown op %q"):format(tostring(req.op)) })
end)

return M
