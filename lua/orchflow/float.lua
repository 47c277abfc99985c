-- Floating windows: sized by ratio or cells, centred, with a title, a footer of
-- keys and orchflow's highlight groups. A border of nil respects 'winborder'.
local M = {}

--- A size option resolved against `total`: a ratio when <= 1, else cells (capped).
function M.size(v, total)
  if v <= 1 then
    return math.max(1, math.floor(total * v))
  end
  return math.min(math.floor(v), total)
end
local dim = M.size

--- Open a float showing `lines`. opts: title, footer, width, height, filetype, enter (default true).
--- Returns win, buf. `q` and <Esc> close it.
function M.open(lines, opts)
  opts = opts or {}
  local cfg = require("orchflow.config").get().float
  local editor_h = vim.o.lines - vim.o.cmdheight - 2
  local width = dim(opts.width or cfg.width, vim.o.columns - 2)
  local height = dim(opts.height or cfg.height, editor_h)
  if opts.fit then
    local longest = 0
    for _, l in ipairs(lines) do
      longest = math.max(longest, vim.fn.strdisplaywidth(l))
    end
    width = math.max(math.min(longest + 1, width), 20)
    height = math.max(math.min(#lines, height), 1)
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = "wipe"
  if opts.filetype then
    vim.bo[buf].filetype = opts.filetype
  end
  -- setup() border wins; else the user's 'winborder'; else rounded (Neovim's own default is none).
  local border = cfg.border
  if border == vim.NIL or border == nil then
    border = vim.o.winborder == "" and "rounded" or nil
  end
  local win_opts = {
    relative = "editor",
    style = "minimal",
    border = border,
    width = width,
    height = height,
    row = math.max(0, math.floor((editor_h - height) / 2)),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    title = opts.title and (" " .. opts.title .. " ") or nil,
    title_pos = opts.title and "center" or nil,
    footer = " " .. (opts.footer or "q close") .. " ",
    footer_pos = "right",
  }
  if border == "none" or (border == nil and vim.o.winborder == "none") then
    win_opts.title, win_opts.title_pos, win_opts.footer, win_opts.footer_pos = nil, nil, nil, nil
  end
  local win = vim.api.nvim_open_win(buf, opts.enter ~= false, win_opts)
  vim.wo[win].winhighlight =
    "NormalFloat:OrchflowNormal,FloatBorder:OrchflowBorder,FloatTitle:OrchflowTitle,FloatFooter:OrchflowFooter"
  vim.wo[win].wrap = false
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", key, function()
      if vim.api.nvim_win_is_valid(win) then
        vim.api.nvim_win_close(win, true)
      end
    end, { buffer = buf, nowait = true, desc = "orchflow: close" })
  end
  return win, buf
end

--- Append ``text`` to the end of a read-only buffer (continuing its last line; "\n" starts
--- new ones) and keep every window showing it at the bottom.
function M.append(buf, text)
  if text == "" or not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  local n = vim.api.nvim_buf_line_count(buf)
  local last = vim.api.nvim_buf_get_lines(buf, n - 1, n, false)[1] or ""
  local parts = vim.split(text, "\n", { plain = true })
  parts[1] = last .. parts[1]
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, n - 1, n, false, parts)
  vim.bo[buf].modifiable = false
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  end
end

return M
