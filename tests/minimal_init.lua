-- Test init: the plugin from this checkout, nothing of the user's, nothing that
-- can block the editor on a prompt.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.opt.more = false
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
vim.opt.laststatus = 0
vim.opt.ruler = false
vim.opt.showmode = false
vim.cmd("runtime plugin/orchflow.lua")
if vim.env.ORCHFLOW_TEST_PYTHON then
  require("orchflow").setup({ python = vim.env.ORCHFLOW_TEST_PYTHON })
end
