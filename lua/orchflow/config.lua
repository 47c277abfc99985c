-- Options: defaults come from orchflow_core/config_schema.json (shared with the
-- Python side), setup() is validated against it field by field.
local M = {}

local schema_cache

--- The plugin's root directory (the checkout or lazy.nvim's clone).
function M.root()
  local src = debug.getinfo(1, "S").source:sub(2)
  return vim.fn.fnamemodify(src, ":p:h:h:h")
end

local function is_leaf(node)
  return type(node) == "table" and node.type ~= nil
end

function M.schema()
  if not schema_cache then
    local path = M.root() .. "/orchflow_core/config_schema.json"
    local fd = assert(io.open(path, "r"), "orchflow: cannot read " .. path)
    local text = fd:read("*a")
    fd:close()
    schema_cache = vim.json.decode(text, { luanil = { object = true, array = true } })
    schema_cache._comment = nil
  end
  return schema_cache
end

--- Every option as { key = "float.width", spec = leaf }, sorted (docs test and :Orchflow config).
function M.keys()
  local out = {}
  local function walk(node, prefix)
    local names = vim.tbl_keys(node)
    table.sort(names)
    for _, name in ipairs(names) do
      local key = prefix == "" and name or (prefix .. "." .. name)
      if is_leaf(node[name]) then
        out[#out + 1] = { key = key, spec = node[name] }
      else
        walk(node[name], key)
      end
    end
  end
  walk(M.schema(), "")
  return out
end

function M.defaults()
  local function build(node)
    local out = {}
    for name, child in pairs(node) do
      if is_leaf(child) then
        out[name] = child.default
      else
        out[name] = build(child)
      end
    end
    return out
  end
  return build(M.schema())
end

local function describe(spec)
  local parts = {}
  if spec.enum then
    parts[#parts + 1] = "one of " .. table.concat(vim.tbl_map(function(v)
      return ("%q"):format(v)
    end, spec.enum), ", ")
  else
    parts[#parts + 1] = table.concat(spec.type, " or ")
  end
  if spec.min then
    parts[#parts + 1] = (">= %s"):format(spec.min)
  end
  if spec.max then
    parts[#parts + 1] = ("<= %s"):format(spec.max)
  end
  return table.concat(parts, ", ")
end

local function type_ok(value, types)
  for _, t in ipairs(types) do
    if t == "null" and value == vim.NIL then
      return true
    elseif t == "integer" and type(value) == "number" and value == math.floor(value) then
      return true
    elseif t == "table" and type(value) == "table" then
      return true
    elseif type(value) == t then
      return true
    end
  end
  return false
end

--- Validate a leaf value; returns nil or an error message naming the field.
function M.check_leaf(key, spec, value)
  local bad = not type_ok(value, spec.type)
  if not bad and spec.enum and value ~= vim.NIL and not vim.tbl_contains(spec.enum, value) then
    bad = true
  end
  if not bad and type(value) == "number" then
    bad = (spec.min and value < spec.min) or (spec.max and value > spec.max) or false
  end
  if bad then
    return ("%s: got %s, expected %s"):format(key, vim.inspect(value), describe(spec))
  end
end

--- Validate user options against the schema. Returns nil or an error message.
function M.validate(opts, node, prefix)
  node, prefix = node or M.schema(), prefix or ""
  if type(opts) ~= "table" then
    return ("%s: got %s, expected a table"):format(prefix == "" and "options" or prefix, vim.inspect(opts))
  end
  for name, value in pairs(opts) do
    local key = prefix == "" and tostring(name) or (prefix .. "." .. tostring(name))
    local spec = node[name]
    if spec == nil then
      local valid = vim.tbl_keys(node)
      table.sort(valid)
      return ("unknown option %q; valid here: %s"):format(key, table.concat(valid, ", "))
    end
    local msg
    if is_leaf(spec) then
      msg = M.check_leaf(key, spec, value)
    else
      msg = M.validate(value, spec, key)
    end
    if msg then
      return msg
    end
  end
end

M.user = {}
M.options = nil

--- Merge `opts` over the defaults after validating every field; raises on a bad field.
function M.setup(opts)
  opts = opts or {}
  local msg = M.validate(opts)
  if msg then
    error("orchflow.setup: " .. msg, 0)
  end
  M.user = vim.deepcopy(opts)
  M.options = vim.tbl_deep_extend("force", M.defaults(), opts)
  return M.options
end

function M.get()
  if not M.options then
    M.options = M.defaults()
  end
  return M.options
end

--- The core-scope options the user set in setup(); the host merges them over config.toml.
function M.core_overrides()
  local out = {}
  local schema = M.schema()
  for section, value in pairs(M.user) do
    local spec = schema[section]
    if type(value) == "table" and not is_leaf(spec) then
      for key, v in pairs(value) do
        if spec[key] and spec[key].scope == "core" then
          out[section] = out[section] or {}
          out[section][key] = v
        end
      end
    elseif is_leaf(spec) and spec.scope == "core" then
      out[section] = value -- a top-level core option (rules)
    end
  end
  -- an empty Lua table would travel as an array, which config.set refuses
  return next(out) ~= nil and out or vim.empty_dict()
end

return M
