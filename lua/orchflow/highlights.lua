-- Highlight groups, linked with default = true so a colorscheme or the user can
-- override any of them; re-applied on ColorScheme because :colorscheme clears links.
local M = {}

M.groups = {
  { name = "OrchflowNormal", link = "NormalFloat", desc = "Text in orchflow floats" },
  { name = "OrchflowBorder", link = "FloatBorder", desc = "Borders of orchflow floats" },
  { name = "OrchflowTitle", link = "FloatTitle", desc = "Titles of orchflow floats" },
  { name = "OrchflowFooter", link = "FloatFooter", desc = "Key hints in float footers" },
  { name = "OrchflowDim", link = "Comment", desc = "Secondary text: ids, times, paths" },
  { name = "OrchflowOk", link = "DiagnosticOk", desc = "Success: running, exit code 0" },
  { name = "OrchflowWarn", link = "DiagnosticWarn", desc = "Warnings: idle, dropped output" },
  { name = "OrchflowError", link = "DiagnosticError", desc = "Failures: exited non-zero, errors" },
  { name = "OrchflowSelection", link = "CursorLine", desc = "The selected row in a picker" },
  { name = "OrchflowMatch", link = "Special", desc = "Matched characters in pickers" },
  { name = "OrchflowAgentNeedsInput", link = "DiagnosticVirtualTextWarn", desc = "An agent waiting for you (its whole row)" },
  { name = "OrchflowAgentWorking", link = "DiagnosticInfo", desc = "An agent at work (its state)" },
  { name = "OrchflowAgentIdle", link = "DiagnosticOk", desc = "An idle agent (its state)" },
  { name = "OrchflowAgentDone", link = "Comment", desc = "An agent that exited (its state)" },
  { name = "OrchflowAgentError", link = "DiagnosticError", desc = "An agent that ended in error (its state)" },
}

function M.apply()
  for _, g in ipairs(M.groups) do
    vim.api.nvim_set_hl(0, g.name, { link = g.link, default = true })
  end
end

function M.setup()
  M.apply()
  vim.api.nvim_create_autocmd("ColorScheme", {
    group = vim.api.nvim_create_augroup("OrchflowHighlights", { clear = true }),
    callback = M.apply,
  })
end

return M
