-- The one command table. It drives :Orchflow dispatch, nested completion, the
-- <Plug> mappings and (through a test) the list in doc/orchflow.txt.
--
-- A node is either a leaf { impl = "module.fn", desc, plug?, key?, complete? }
-- or a group { desc, sub = { name = node, ... }, impl? } (impl: what the group alone
-- runs). `impl` names a function in a lua/orchflow module so that nothing is required
-- before the command runs.
local M = {}

M.tree = {
  health = { impl = "actions.health", desc = "Run :checkhealth orchflow", plug = "orchflow-health" },
  version = {
    impl = "actions.version",
    desc = "Show the versions of the Lua plugin, orchflow_core, Python and pynvim",
    plug = "orchflow-version",
  },
  log = { impl = "actions.log", desc = "Open the orchflow log file", plug = "orchflow-log", key = "<leader>oL" },
  config = {
    impl = "actions.config",
    desc = "Show the effective configuration (defaults, config.toml, setup())",
    plug = "orchflow-config",
  },
  session = {
    desc = "tmux sessions",
    sub = {
      new = { impl = "terminal.session_new", desc = "Create a session: {name}" },
      list = {
        impl = "dashboard.open",
        desc = "The dashboard: sessions and their panes",
        plug = "orchflow-session-list",
        key = "<leader>os",
      },
      switch = {
        impl = "terminal.session_switch",
        desc = "Make {name} the session new panes go to",
        complete = "terminal.complete_sessions",
      },
      rename = {
        impl = "terminal.session_rename",
        desc = "Rename a session: {old} {new}",
        complete = "terminal.complete_sessions",
      },
      kill = {
        impl = "terminal.session_kill",
        desc = "Kill a session and its panes: {name}",
        complete = "terminal.complete_sessions",
      },
    },
  },
  run = {
    desc = "Runs: commands run or typed in orchflow's panes, with exit codes",
    sub = {
      list = {
        impl = "runs.list",
        desc = "The latest runs, newest first: [pane]",
        plug = "orchflow-run-list",
        key = "<leader>oR",
        complete = "terminal.complete_panes",
      },
    },
  },
  ai = {
    desc = "Completions from the configured model providers (OpenAI-compatible, Anthropic, CLI, ACP)",
    sub = {
      complete = {
        impl = "complete.complete",
        desc = "Ask a provider; the answer streams into a float (<C-c> cancels): [@provider] [+tools|-tools|+server] {text}",
        plug = "orchflow-ai-complete",
      },
      providers = {
        impl = "complete.providers",
        desc = "The providers with their model, key variable and breaker state",
        plug = "orchflow-ai-providers",
      },
    },
  },
  ask = {
    impl = "ask.open",
    desc = "Route a request to an agent and the project's command: {text}; run, edit or reject it."
      .. " {agent} {text}: prompt that agent, {file} {selection} {line} {diagnostics} {quickfix} {buffers} expanded",
    plug = "orchflow-ask",
    visual = "ask.visual",
  },
  test = {
    desc = "Test runner (pytest, unittest, jest, vitest, go, cargo, make) in a test pane; failures to quickfix",
    sub = {
      nearest = { impl = "testing.nearest", desc = "Run the test at the cursor", plug = "orchflow-test-nearest" },
      file = { impl = "testing.file", desc = "Run the tests of this file", plug = "orchflow-test-file" },
      all = { impl = "testing.all", desc = "Run the suite of the working directory", plug = "orchflow-test-all" },
      last = { impl = "testing.last", desc = "Run the latest test run again", plug = "orchflow-test-last" },
      failed = {
        impl = "testing.failed",
        desc = "Run only the tests that failed in the latest run",
        plug = "orchflow-test-failed",
      },
      watch = {
        impl = "testing.watch",
        desc = "Toggle watch mode: saving a file re-runs the affected tests",
        plug = "orchflow-test-watch",
      },
      cancel = { impl = "testing.cancel", desc = "Stop the running test run", plug = "orchflow-test-cancel" },
    },
  },
  mode = {
    impl = "modes.open",
    desc = "SPARC modes (tdd, debug, review...): list them and their steps, or activate one: [name|off]",
    plug = "orchflow-mode",
    complete = "modes.complete",
  },
  rules = {
    impl = "rules.open",
    desc = "Rules every command crosses (block, confirm, warn): list, add, remove",
    plug = "orchflow-rules",
  },
  search = {
    impl = "search.open",
    desc = "Project search with ripgrep, results streamed into a picker: [pattern]",
    plug = "orchflow-search",
    key = "<leader>og",
    complete = "search.complete_options",
  },
  git = {
    impl = "git.open",
    desc = "Git status float: stage or unstage files and hunks, diff, commit",
    plug = "orchflow-git",
    key = "<leader>oG",
  },
  review = {
    impl = "review.open",
    desc = "Review an agent's worktree hunk by hunk: accept, reject, comment, send, finish: {agent}",
    complete = "review.complete_agents",
  },
  files = {
    impl = "files.open",
    desc = "Fuzzy file finder (respects .gitignore, learns what you open)",
    plug = "orchflow-files",
    key = "<leader>of",
  },
  browse = {
    impl = "browser.open",
    desc = "File browser float: create, rename, move, copy, delete to trash: [dir]",
    plug = "orchflow-browse",
    key = "<leader>ob",
    complete = "browser.complete_dirs",
  },
  trash = {
    impl = "browser.open_trash",
    desc = "Files deleted by orchflow; restore them",
    plug = "orchflow-trash",
  },
  history = {
    impl = "history.open",
    desc = "Command history ranked by frecency; re-run in a pane. [import {file}|export {file}|prune {days}]",
    plug = "orchflow-history",
    key = "<leader>oh",
    complete = "history.complete",
  },
  orchestrator = {
    desc = "The orchestrator process",
    sub = {
      start = { impl = "orchestrator.start", desc = "Start (sidecar) or connect to (service) the orchestrator" },
      stop = { impl = "orchestrator.stop", desc = "Disconnect; a sidecar is stopped" },
      status = {
        impl = "orchestrator.status",
        desc = "Mode, state and health of the orchestrator",
        plug = "orchflow-orchestrator-status",
      },
    },
  },
  mcp = {
    impl = "mcp.show",
    desc = "orchflow's MCP server: state, tools, and how to add it to Claude Code, Codex, Gemini CLI",
    plug = "orchflow-mcp",
  },
  agent = {
    desc = "Agents: typed panes and AI agents (ACP) run by the orchestrator",
    sub = {
      new = {
        impl = "orchestrator.agent_new",
        desc = "Start an agent: {type} [cmd]",
        plug = "orchflow-agent-new",
        complete = "orchestrator.complete_agent_types",
      },
      list = { impl = "agents.open", desc = "The agents float: live states; attach, prompt, answer, output, stop, restart", plug = "orchflow-agent-list", key = "<leader>oA" },
      send = { impl = "orchestrator.agent_send", desc = "Type text into an agent: {id} {text}" },
      stop = { impl = "orchestrator.agent_stop", desc = "Stop an agent: {id}" },
      worktree = {
        impl = "orchestrator.agent_worktree",
        desc = "Start an agent in its own git worktree and branch (copied files, port, setup script): {type} [cmd]",
        plug = "orchflow-agent-worktree",
        complete = "orchestrator.complete_agent_types",
      },
      cleanup = {
        impl = "orchestrator.agent_cleanup",
        desc = "Remove the worktrees no agent uses any more (a dirty one is kept and named)",
      },
      remove = {
        impl = "orchestrator.agent_remove",
        desc = "Stop an agent and remove its worktree (teardown script; the branch if merged): {id}",
      },
      output = { impl = "orchestrator.agent_output", desc = "Follow an agent's output: {id}" },
      prompt = { impl = "ai.prompt", desc = "Give an AI agent a prompt (a turn): {id} {text}" },
      answer = {
        impl = "ai.answer",
        desc = "Answer the open questions of AI agents (or of one; a terminal agent: open its pane): [id]",
        plug = "orchflow-agent-answer",
      },
      cancel = { impl = "ai.cancel", desc = "Cancel an AI agent's running turn: {id}" },
      restart = {
        impl = "ai.restart",
        desc = "Start an AI agent again, same id and name, resuming its conversation where it can: {id}",
        complete = "ai.complete_agents",
      },
    },
  },
  schedule = {
    desc = "Cron schedules: commands the orchestrator runs in panes at set times",
    sub = {
      list = {
        impl = "coordination.schedule_list",
        desc = "Schedules with their next three runs; r run now, h history, d remove",
        plug = "orchflow-schedule-list",
      },
      add = {
        impl = "coordination.schedule_add",
        desc = "Add a schedule: {name} {cron: 5 fields or @daily...} {cmd}",
      },
      remove = {
        impl = "coordination.remove",
        desc = "Remove a schedule: {name}",
        complete = "coordination.complete_schedules",
      },
      run = {
        impl = "coordination.run_now",
        desc = "Run a schedule's command now: {name}",
        complete = "coordination.complete_schedules",
      },
      history = {
        impl = "coordination.history",
        desc = "A schedule's firings with their runs and exit codes: {name}",
        complete = "coordination.complete_schedules",
      },
    },
  },
  swarm = {
    desc = "Swarms: task graphs the orchestrator runs in parallel in panes",
    impl = "swarm.show", -- :Orchflow swarm alone: the newest swarm's progress
    sub = {
      show = {
        impl = "swarm.show",
        desc = "Live progress per task (state, attempts, exit code, age); <CR> opens its pane: [id]",
        plug = "orchflow-swarm-show",
        complete = "swarm.complete_swarms",
      },
      list = { impl = "swarm.list", desc = "The swarms, newest first", plug = "orchflow-swarm-list" },
      submit = {
        impl = "swarm.submit",
        desc = "Run the swarm in a JSON or TOML file: {file}",
        complete = "swarm.complete_files",
      },
      cancel = {
        impl = "swarm.cancel",
        desc = "Stop everything a swarm started: {id}",
        complete = "swarm.complete_swarms",
        },
      },
    },
  module = {
    impl = "modules.list",
    desc = "Modules: manifest.json folders that add methods, commands and test adapters",
    sub = {
      list = { impl = "modules.list", desc = "A float of every module and its state", plug = "orchflow-module-list" },
      info = { impl = "modules.info", desc = "A module's manifest: {name}", complete = "modules.complete_names" },
      enable = { impl = "modules.enable", desc = "Enable a module (persisted): {name}", complete = "modules.complete_names" },
      disable = {
        impl = "modules.disable",
        desc = "Disable a module (persisted): {name}",
        complete = "modules.complete_names",
      },
      trust = { impl = "modules.trust", desc = "Trust this project: load its .orchflow/modules/" },
      untrust = { impl = "modules.untrust", desc = "Stop loading this project's modules" },
      run = {
        impl = "modules.run",
        desc = "Run a command a module contributes: {command} [args]",
        complete = "modules.complete_commands",
      },
    },
  },
  template = {
    desc = "Session templates: tmuxp and tmuxinator files applied by reconciling",
    sub = {
      list = { impl = "templates.list", desc = "Saved templates with their windows and panes" },
      apply = {
        impl = "templates.apply",
        desc = "Create what a template's session lacks, report drift: {name|file} [session]",
        complete = "templates.complete_templates",
      },
      save = {
        impl = "templates.save",
        desc = "Save a running session as a template: {session} [name]",
        complete = "templates.complete_sessions",
      },
      freeze = {
        impl = "templates.freeze",
        desc = "Write a running session as tmuxp YAML: {session} {file}",
        complete = "templates.complete_sessions",
      },
      import = {
        impl = "templates.import",
        desc = "Check a tmuxp or tmuxinator file and keep it as a template: {file} [name]",
      },
      snapshot = { impl = "templates.snapshot", desc = "Snapshot every session's layout into orchflow's state now" },
      snapshots = {
        impl = "templates.snapshots",
        desc = "The saved layout snapshots, newest first: [session]",
        complete = "templates.complete_sessions",
      },
      restore = {
        impl = "templates.restore",
        desc = "Bring sessions back from a snapshot (after tmux was killed): [snapshot id|session]",
        complete = "templates.complete_sessions",
      },
    },
  },
  locks = {
    impl = "coordination.locks",
    desc = "Resource locks held through the orchestrator, and who waits",
    plug = "orchflow-locks",
  },
  memory = {
    desc = "The orchestrator's persistent memory",
    sub = {
      store = { impl = "orchestrator.memory_store", desc = "Store a value: {key} {value}" },
      search = {
        impl = "orchestrator.memory_search",
        desc = "Ranked full-text search: {query}",
        plug = "orchflow-memory-search",
      },
    },
  },
  pane = {
    desc = "Terminal panes",
    sub = {
      new = {
        impl = "terminal.pane_new",
        desc = "Open a pane: [type] [cmd]",
        plug = "orchflow-pane-new",
        key = "<leader>on",
        complete = "terminal.complete_types",
      },
      list = {
        impl = "dashboard.open",
        desc = "The dashboard: panes with type, command, state and last line",
        plug = "orchflow-pane-list",
        key = "<leader>op",
      },
      send = {
        impl = "terminal.pane_send",
        desc = "Type text into a pane, then Enter: {pane} {text}",
        plug = "orchflow-pane-send",
        complete = "terminal.complete_panes",
      },
      run = {
        impl = "terminal.pane_run",
        desc = "Run a command and report its exit code: {pane} {cmd}",
        plug = "orchflow-pane-run",
        key = "<leader>or",
        complete = "terminal.complete_run",
      },
      focus = {
        impl = "terminal.pane_focus",
        desc = "Select the pane in tmux: {pane}",
        complete = "terminal.complete_panes",
      },
      close = {
        impl = "terminal.pane_close",
        desc = "Close a pane: {pane}",
        plug = "orchflow-pane-close",
        complete = "terminal.complete_panes",
      },
      output = {
        impl = "terminal.pane_output",
        desc = "Follow a pane's output live in a float: {pane}",
        plug = "orchflow-pane-output",
        key = "<leader>oo",
        complete = "terminal.complete_panes",
      },
      attach = {
        impl = "terminal.pane_attach",
        desc = "Open the pane in a terminal split to type in: {pane}",
        plug = "orchflow-pane-attach",
        key = "<leader>oa",
        complete = "terminal.complete_panes",
      },
      search = {
        impl = "terminal.pane_search",
        desc = "Search the scrollback of every pane: {pattern}",
        plug = "orchflow-pane-search",
        key = "<leader>o/",
      },
    },
  },
}

local function resolve_impl(path)
  local mod, fn = path:match("^(.*)%.([%w_]+)$")
  return require("orchflow." .. mod)[fn]
end

local function sorted_keys(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys)
  return keys
end

--- Walk the tree along `words`; returns the deepest node, the path taken and the remaining words.
function M.resolve(words)
  local node, path, i = { sub = M.tree }, {}, 1
  while node.sub and words[i] and node.sub[words[i]] do
    node = node.sub[words[i]]
    path[#path + 1] = words[i]
    i = i + 1
  end
  return node, path, vim.list_slice(words, i)
end

--- Every leaf as { path = "pane new", node = leaf }, sorted; used by <Plug> maps and the doc test.
function M.leaves()
  local out = {}
  local function walk(t, prefix)
    for _, name in ipairs(sorted_keys(t)) do
      local node, path = t[name], prefix == "" and name or (prefix .. " " .. name)
      if node.sub then
        walk(node.sub, path)
      else
        out[#out + 1] = { path = path, node = node }
      end
    end
  end
  walk(M.tree, "")
  return out
end

local function err(msg)
  vim.notify("orchflow: " .. msg, vim.log.levels.ERROR)
end

function M.run(info)
  local node, path, rest = M.resolve(info.fargs)
  -- a group may have an impl of its own (:Orchflow module): run when no subcommand follows
  if node.impl and not (node.sub and rest[1]) then
    -- the leaf also gets the raw text after its path (info.rest): free text ({text},
    -- {cmd}, {value}) is taken from there, as typed (lua/orchflow/args.lua)
    local raw = type(info.args) == "string" and info.args or table.concat(info.fargs, " ")
    info = vim.tbl_extend("force", info, { rest = select(2, require("orchflow.args").split(raw, #path)) })
    local ok, e = pcall(resolve_impl(node.impl), rest, info)
    if not ok then
      err(tostring(e))
    end
    return
  end
  local where = #path == 0 and ":Orchflow" or (":Orchflow " .. table.concat(path, " "))
  local choices = table.concat(sorted_keys(node.sub), ", ")
  if rest[1] then
    err(("unknown subcommand %q for %s; valid: %s"):format(rest[1], where, choices))
  else
    err(("%s needs a subcommand: %s"):format(where, choices))
  end
end

local function filter(items, lead)
  return vim.tbl_filter(function(s)
    return vim.startswith(s, lead)
  end, items)
end

function M.complete(arglead, cmdline, _)
  local words = vim.split(cmdline:gsub("^%s*%S+%s*", ""), "%s+", { trimempty = true })
  if arglead ~= "" then
    table.remove(words)
  end
  local node, _, rest = M.resolve(words)
  if node.sub and #rest == 0 then
    return filter(sorted_keys(node.sub), arglead)
  end
  if node.complete then
    local ok, items = pcall(resolve_impl(node.complete), arglead, rest)
    return ok and filter(items or {}, arglead) or {}
  end
  return {}
end

--- Run a leaf by its path ("pane list"), as <Plug> maps and keymaps do.
function M.call(path, args)
  M.run({ fargs = vim.list_extend(vim.split(path, " "), args or {}), bang = false })
end

function M.define_plug_maps()
  for _, leaf in ipairs(M.leaves()) do
    if leaf.node.plug then
      vim.keymap.set("n", ("<Plug>(%s)"):format(leaf.node.plug), function()
        M.call(leaf.path)
      end, { desc = "orchflow: " .. leaf.node.desc })
      if leaf.node.visual then -- the same <Plug> from visual mode: the selection's lines
        vim.keymap.set("x", ("<Plug>(%s)"):format(leaf.node.plug), function()
          resolve_impl(leaf.node.visual)()
        end, { desc = "orchflow: " .. leaf.node.desc })
      end
    end
  end
end

--- Opt-in default keymaps (setup({ keymaps = true })): each leaf's `key`, unless the user mapped it.
function M.define_default_keymaps()
  for _, leaf in ipairs(M.leaves()) do
    local key = leaf.node.key
    if key and leaf.node.plug and vim.fn.maparg(key, "n") == "" then
      vim.keymap.set("n", key, ("<Plug>(%s)"):format(leaf.node.plug), { desc = "orchflow: " .. leaf.node.desc })
    end
  end
end

return M
