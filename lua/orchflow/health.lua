-- :checkhealth orchflow. Checks the interpreter orchflow will really use, by
-- running it, rather than has('python3').
local M = {}

local h = vim.health

-- Run like the host (isolated, in the plugin dir, see host.lua): checkhealth in a
-- cloned repository must not import the repository's files either.
local PROBE = [[
import json, os, shutil, sys
sys.path.insert(0, sys.argv[1])
out = {"python": sys.version.split()[0], "executable": sys.executable, "ok": sys.version_info >= (3, 11)}
try:
    import pynvim
    from importlib import metadata
    out["pynvim"] = metadata.version("pynvim")
except Exception as exc:
    out["pynvim_error"] = str(exc)
try:
    import orchflow_core
    from orchflow_core import paths, host_boot
    out["core"] = orchflow_core.__version__
    out["core_path"] = os.path.dirname(orchflow_core.__file__)
    out["missing"] = host_boot.missing_modules()
    out["extras"] = host_boot.extras()
    out["state_dir"] = str(paths.state_dir())
    out["log_dir"] = str(paths.log_dir())
    out["runtime_dir"] = str(paths.runtime_dir())
    out["config_file"] = str(paths.config_file())
    from orchflow_core import config
    try:
        config.read_toml(paths.config_file())
    except Exception as exc:
        out["config_error"] = str(exc)
    try:
        from orchestrator.agents import registry
        user = config.read_toml(paths.config_file()).get("agents")
        out["agents"] = registry.installed(registry.load(user))
        from orchestrator.agents import versions
        versions.add_versions(out["agents"])  # npm package.json, else --version (2 s)
    except Exception as exc:
        out["agents_error"] = str(exc)
    try:
        from orchestrator.providers import config as providers_config
        out["providers"] = providers_config.health(config.read_toml(paths.config_file()))
    except Exception as exc:
        out["providers_error"] = str(exc)
except Exception as exc:
    out["core_error"] = str(exc)
print(json.dumps(out))
]]

local function run(argv, cwd, timeout_ms)
  timeout_ms = timeout_ms or 5000
  local ok, res = pcall(function()
    return vim.system(argv, { text = true, cwd = cwd or require("orchflow.config").root() }):wait(timeout_ms)
  end)
  if not ok then
    return nil, tostring(res)
  end
  if res.code == 124 and (res.signal or 0) ~= 0 then
    return nil, ("no answer within %d s (a loaded machine?): it was stopped"):format(timeout_ms / 1000)
  end
  if res.code ~= 0 then
    return nil, vim.trim((res.stderr or "") .. (res.stdout or ""))
  end
  return vim.trim(res.stdout or "")
end

-- orchflow's directories: made 0700 when missing (like orchflow_core.paths), and any
-- that exist with a looser mode are named, with the fix; checkhealth changes nothing else.
local function check_dir(label, dir)
  if not dir then
    return
  end
  if vim.fn.isdirectory(dir) == 0 then
    vim.fn.mkdir(dir, "p", tonumber("700", 8))
  end
  if vim.fn.isdirectory(dir) == 1 and vim.fn.filewritable(dir) == 2 then
    h.ok(("%s writable: %s"):format(label, dir))
  else
    h.error(("%s not writable: %s"):format(label, dir), { "Fix the directory's permissions or owner" })
    return
  end
  local st = vim.uv.fs_stat(dir)
  local mode = st and bit.band(st.mode, tonumber("777", 8)) or 0
  if bit.band(mode, tonumber("077", 8)) ~= 0 then
    h.warn(("%s %s has mode %o: other users can look inside (orchflow keeps it 700)"):format(label, dir, mode), {
      ("chmod 700 %s"):format(vim.fn.shellescape(dir)),
    })
  end
end

local function version_ge(v, want)
  local a, b = v:match("(%d+)%.(%d+)")
  local wa, wb = want:match("(%d+)%.(%d+)")
  a, b, wa, wb = tonumber(a), tonumber(b), tonumber(wa), tonumber(wb)
  return a and (a > wa or (a == wa and b >= wb))
end

function M.check()
  local config = require("orchflow.config")
  local opts = config.get()
  local root = config.root()
  local lua_version = require("orchflow").version

  h.start("orchflow: Python host")
  local py, source = require("orchflow.host").python()
  if vim.fn.executable(py) == 0 then
    h.error(("interpreter %q (%s) not found"):format(py, source), {
      "Run `make install` in " .. root .. " to create the plugin-local .venv",
      "or set setup({ python = '/path/to/python3' })",
    })
    return
  end
  local out, err = run(require("orchflow.host").isolated_argv(py, PROBE, root), root)
  local info = out and pcall(vim.json.decode, out) and vim.json.decode(out)
  if not info then
    h.error(("could not run %s: %s"):format(py, err or out or "?"), { "Run `make install` in " .. root })
    return
  end
  if info.ok then
    h.ok(("Python %s at %s (%s)"):format(info.python, info.executable, source))
  else
    h.error(("Python %s at %s is too old; orchflow needs >= 3.11"):format(info.python, info.executable), {
      "Run `make install` in " .. root .. " with a newer python3, or set setup({ python = ... })",
    })
  end
  if info.pynvim then
    h.ok("pynvim " .. info.pynvim)
  else
    h.error("pynvim not importable: " .. (info.pynvim_error or "?"), { "Run `make install` in " .. root })
  end
  if info.core then
    if info.core == lua_version then
      h.ok(("orchflow_core %s from %s (matches the Lua plugin)"):format(info.core, info.core_path))
    else
      h.error(("orchflow_core %s from %s, but the Lua plugin is %s"):format(info.core, info.core_path, lua_version), {
        "Reinstall: `make install` in " .. root,
      })
    end
    if info.missing and #info.missing > 0 then
      h.error("missing Python modules: " .. table.concat(info.missing, ", "), { "Run `make install` in " .. root })
    else
      h.ok("all runtime dependencies importable")
    end
    for extra, missing in pairs(info.extras or {}) do
      if #missing == 0 then
        h.ok(("extra %q installed"):format(extra))
      elseif extra == "orchestrator" then
        h.warn(("extra %q not installed (lacks %s): sidecar mode cannot start the orchestrator"):format(extra, table.concat(missing, ", ")), {
          "Run `make install` in " .. root,
          "or pip install 'orchflow[orchestrator]' into " .. info.executable,
        })
      else
        h.info(("extra %q not installed (lacks %s)"):format(extra, table.concat(missing, ", ")))
      end
    end
  else
    h.error("orchflow_core not importable: " .. (info.core_error or "?"), { "Run `make install` in " .. root })
  end

  h.start("orchflow: Neovim")
  local v = vim.version()
  local nv = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.11") == 1 then
    h.ok("Neovim " .. nv)
  else
    h.error(("Neovim %s is older than 0.11; orchflow needs >= 0.11"):format(nv), { "Upgrade Neovim to 0.11 or later" })
  end

  h.start("orchflow: tools")
  local tmux = opts.tmux and opts.tmux.binary or "tmux"
  local tv = vim.fn.executable(tmux) == 1 and run({ tmux, "-V" })
  if not tv then
    h.error(tmux .. " not found", { "Install tmux >= 3.2 (apt install tmux, brew install tmux)" })
  elseif version_ge(tv:match("[%d%.]+[a-z]?") or "0.0", "3.2") then
    h.ok(tv)
  else
    h.error(tv .. " is older than 3.2", { "Upgrade tmux to >= 3.2" })
  end
  local rg = vim.fn.exepath("rg")
  if rg == "" then
    local venv_rg = vim.fn.fnamemodify(py, ":h") .. "/rg"
    rg = vim.fn.executable(venv_rg) == 1 and venv_rg or ""
  end
  local rv = rg ~= "" and run({ rg, "--version" })
  if rv then
    h.ok(("%s (%s)"):format(rv:match("^[^\n]+"), rg))
  else
    h.warn("rg (ripgrep) not found: project search is unavailable", { "Install ripgrep, or `make install`" })
  end
  local gv = vim.fn.executable("git") == 1 and run({ "git", "version" })
  if not gv then
    h.warn("git not found: :Orchflow git and agents' worktrees are unavailable", { "Install git >= 2.36" })
  elseif version_ge(gv:match("[%d%.]+") or "0.0", "2.36") then
    h.ok(vim.trim(gv))
    if not version_ge(gv:match("[%d%.]+") or "0.0", "2.38") then -- merge-tree --write-tree
      h.warn(vim.trim(gv) .. " is older than 2.38: :Orchflow review cannot finish (merge)", {
        "Upgrade git to >= 2.38; accept, reject and comments work",
      })
    end
  else
    h.warn(vim.trim(gv) .. " is older than 2.36: :Orchflow git and agents' worktrees need 2.36", {
      "Upgrade git to >= 2.36",
    })
  end

  h.start("orchflow: files")
  check_dir("state dir", info.state_dir)
  check_dir("log dir", info.log_dir)
  check_dir("runtime dir", info.runtime_dir)
  if info.config_error then
    h.error(info.config_error, { "Fix the file, then run :Orchflow config" })
  elseif info.config_file then
    local exists = vim.fn.filereadable(info.config_file) == 1
    h.ok(("config: %s%s"):format(info.config_file, exists and "" or " (absent: defaults apply)"))
  end

  h.start("orchflow: AI agents")
  if info.agents_error then
    h.error("agent registry: " .. info.agents_error, { "Fix the [agents.<name>] table it names in config.toml" })
  end
  for _, a in ipairs(info.agents or {}) do
    local found, missing = {}, {}
    for _, t in ipairs({ "acp", "terminal" }) do
      local argv = a.argv[t]
      if argv then
        local path = a.transports[t]
        if path and path ~= vim.NIL then
          local version = a.versions and a.versions[t]
          version = (version and version ~= vim.NIL) and (", " .. version) or ""
          found[#found + 1] = ("%s: %s (%s%s)"):format(t, table.concat(argv, " "), path, version)
        else
          missing[#missing + 1] = ("%s: %s"):format(t, argv[1])
        end
      end
    end
    -- a terminal agent's state: its vendor's hooks (wired per agent) or patterns + quiet
    local state = ""
    if a.argv.terminal then
      local hooks = a.hooks and a.hooks ~= vim.NIL and a.hooks or "none"
      state = hooks ~= "none" and ("; terminal state: hooks (%s)"):format(hooks)
        or "; terminal state: patterns and quiescence (no hooks)"
    end
    if #found > 0 then
      h.ok(("%s installed: %s%s"):format(a.name, table.concat(found, "; "), state))
    else
      h.info(("%s not installed (not on PATH: %s)%s"):format(a.name, table.concat(missing, ", "), state))
    end
  end
  M.check_providers(info)
  h.start("orchflow: modes")
  local mok, listed = pcall(require("orchflow.host").wait, "mode.list", { cwd = vim.fn.getcwd() }, 5000)
  if not mok then
    h.error("could not ask the host for the modes: " .. tostring(listed), { "See :Orchflow log" })
  else
    local active = listed.active ~= vim.NIL and listed.active or nil
    h.ok(("%d modes (files in %s and %s); active here: %s"):format(#listed.modes, listed.dirs.user, listed.dirs.project, active or "none"))
    for _, p in ipairs(listed.problems or {}) do
      h.warn("mode file: " .. p, { "Fix the file it names; the other modes load (:Orchflow mode)" })
    end
  end
  h.start("orchflow: modules")
  local mok, mods = pcall(require("orchflow.host").wait, "module.list", {}, 5000)
  if not mok then
    h.error("could not ask the host for modules: " .. tostring(mods), { "See :Orchflow log" })
  else
    for _, m in ipairs(mods.modules) do
      local line = ("%s (%s, %s): %s"):format(m.name, m.source, m.version ~= vim.NIL and m.version or "-", m.state)
      if m.state == "enabled" then
        h.ok(line)
      elseif m.state == "disabled" or m.state == "untrusted" then
        h.info(line .. (m.error ~= vim.NIL and m.error and (": " .. m.error) or ""))
      else
        h.warn(line .. ": " .. tostring(m.error), { "Fix its manifest.json (doc/modules.md), or remove the folder" })
      end
    end
  end
  h.start("orchflow: orchestrator")
  -- ask the host: it knows the effective mode (setup() over config.toml)
  local ok, status = pcall(require("orchflow.host").wait, "orchestrator.status", {}, 5000)
  if not ok then
    h.error("could not ask the host: " .. tostring(status), { "See :Orchflow log" })
  elseif status.mode == "embedded" then
    h.ok("mode embedded: no orchestrator runs; agent and memory commands say they are unavailable")
  elseif status.state == "running" then
    local health = type(status.health) == "table" and status.health or {}
    h.ok(("mode %s: orchestrator %s answers (status %s)"):format(status.mode, health.version or "?", health.status or "?"))
    if type(health.swarms) == "number" then
      h.ok(("swarms: %d running (:Orchflow swarm; [executor] kind says where their commands run)"):format(health.swarms))
    end
  elseif status.mode == "sidecar" and status.state == "not started" then
    h.ok("mode sidecar: the host starts the orchestrator on first use (:Orchflow orchestrator start)")
  else
    h.error(("mode %s: orchestrator %s%s"):format(status.mode, status.state or "?", status.error and (": " .. status.error) or ""), {
      status.mode == "service" and "Start it with `orchflow-orchestrator serve`, or check orchestrator.url / discovery_file"
        or "See :Orchflow log",
    })
  end
  M.check_mcp(ok and status or nil)
end

--- The [providers.<name>] of config.toml: kind, model, and whether the variable named by
--- api_key_env is set (its value is never read here, only whether it is there).
function M.check_providers(info)
  h.start("orchflow: AI providers")
  if info.providers_error then
    h.error("providers: " .. info.providers_error, { "Fix the [providers.<name>] field it names in config.toml" })
    return
  end
  local p = info.providers
  if not p then
    return
  end
  if p.problem and p.problem ~= vim.NIL then
    h.error(p.problem, { "Set [ai] default_provider to one of the [providers.<name>] tables" })
  end
  if #p.providers == 0 then
    h.info("no providers configured: ai.complete needs a [providers.<name>] table (:help orchflow-providers)")
  end
  for _, item in ipairs(p.providers) do
    local what = ("%s%s (%s%s)"):format(
      item.name,
      item.default and " [default]" or "",
      item.kind,
      (item.model ~= vim.NIL and item.model) and (", " .. item.model) or ""
    )
    local key = ""
    if item.api_key_env and item.api_key_env ~= vim.NIL then
      key = (": key variable $%s is %s"):format(item.api_key_env, item.api_key_set and "set" or "NOT set")
    end
    if item.tools == true then
      key = key .. "; offers the MCP servers' tools"
    elseif type(item.tools) == "table" and #item.tools > 0 then
      key = key .. "; offers the tools of " .. table.concat(item.tools, ", ")
    end
    if item.tools_problem and item.tools_problem ~= vim.NIL then
      h.warn(("%s: %s"):format(item.name, item.tools_problem), {
        "Add the [mcp.servers.<name>] table, or change the provider's tools (:help orchflow-providers-tools)",
      })
    end
    if item.unavailable and item.unavailable ~= vim.NIL then
      h.warn(("%s%s: unavailable: %s"):format(what, key, item.unavailable), {
        item.api_key_env and item.api_key_env ~= vim.NIL and ("export " .. item.api_key_env .. "=... before starting Neovim")
          or "Install the command or fix the provider's table in config.toml",
      })
    else
      h.ok(what .. key)
    end
  end
end
-- `orchflow-orchestrator mcp --check` imports the MCP SDK (about a second) and asks the
-- orchestrator: more than the 5 s other tools get on a busy machine.
local MCP_CHECK_MS = 15000

--- Whether `orchflow-orchestrator mcp` (the stdio MCP server AI clients start) works here,
--- by running it with --check, and the snippets that add it to AI clients (doc/mcp.md).
function M.check_mcp(status)
  h.start("orchflow: MCP server")
  local ok, s = pcall(require("orchflow.host").wait, "mcp.status", {}, 5000)
  if not ok then
    h.error("could not ask the host: " .. tostring(s), { "See :Orchflow log" })
    return
  end
  local argv = vim.list_extend(vim.deepcopy(s.command), { "--check" })
  local out, err = run(argv, nil, MCP_CHECK_MS)
  local cmd = table.concat(s.command, " ")
  if out then
    h.ok("`orchflow-orchestrator mcp` works: " .. out)
  elseif status and status.state ~= "running" then
    h.info(("`orchflow-orchestrator mcp` needs a running orchestrator (%s now): %s"):format(status.state or status.mode or "?", err or "?"))
  else
    h.error("`orchflow-orchestrator mcp` fails: " .. (err or "?"), { "Run it in a shell to see why: " .. cmd, "See :Orchflow log" })
  end
  h.info("AI clients run it as (isolated: never imports from the project): " .. cmd)
  -- the MCP servers orchflow is a client of ([mcp.servers.<name>]): a bad one is named
  for _, srv in ipairs(type(s.servers) == "table" and s.servers or {}) do
    if srv.kind == "user" and srv.state == "invalid" then
      h.warn(("MCP server %s is not used: %s"):format(srv.name, srv.last_error), { "Fix it in config.toml" })
    elseif srv.kind == "user" then
      h.ok(("MCP server %s (%s): %s"):format(srv.name, srv.transport or "?", srv.state))
    end
  end
  for _, c in ipairs(require("orchflow.mcp").clients) do
    h.info(c.title .. ":\n" .. (s.snippets[c.key] or "?"))
  end
  if s.note then
    h.info(s.note)
  end
end

return M
