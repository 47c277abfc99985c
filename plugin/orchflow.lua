-- orchflow: the :Orchflow front door. Kept tiny: nothing heavy is required at
-- start-up; the Python host starts on the first command that needs it.
if vim.g.loaded_orchflow then
  return
end
vim.g.loaded_orchflow = true

-- 0.11: floats use 'winborder' and terminals jobstart({ term = true }).
if vim.fn.has("nvim-0.11") == 0 then
  vim.notify_once("orchflow needs Neovim >= 0.11", vim.log.levels.ERROR)
  return
end

local commands = require("orchflow.commands")

vim.api.nvim_create_user_command("Orchflow", commands.run, {
  nargs = "*",
  bang = true,
  desc = "orchflow: terminals, search, history and agents",
  complete = commands.complete,
})

commands.define_plug_maps()
require("orchflow.highlights").setup()
