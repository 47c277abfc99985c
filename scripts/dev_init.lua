-- `make run`: Neovim with orchflow from this checkout, in a throwaway config
-- (the Makefile points every XDG dir under .tests/run), never the user's own.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.opt.swapfile = false
vim.cmd("runtime plugin/orchflow.lua")
vim.cmd("silent! helptags " .. vim.fn.fnameescape(root .. "/doc"))
require("orchflow").setup({ keymaps = true })
