-- ccmux default policy.
--   * read-only tools on paths inside the session's cwd: allow (ccmux.path_inside resolves
--     symlinks, "..", "~"; a Glob pattern's own folder counts too)
--   * Bash commands that delete recursively (rm -rf and friends): deny
--   * file writes/edits outside the session's cwd: deny
--   * everything else: ask a human
-- Return "allow" | "deny" | "ask" | nil (no opinion) and an optional reason,
-- or a table {decision=..., reason=..., updated_input=...}.

local READ_ONLY = { Read = true, Glob = true, Grep = true, LS = true, NotebookRead = true }
local WRITERS = { Write = true, Edit = true, MultiEdit = true, NotebookEdit = true }

local function target_path(input)
  return input.file_path or input.notebook_path or input.path
end

-- Glob's pattern can name a folder by itself ("/etc/*", "../x/**"): the part before the first
-- wildcard, up to its last "/", must be inside too. Relative to `path` when given.
local function glob_folder(tool, input)
  local pat = input.pattern
  if tool ~= "Glob" or type(pat) ~= "string" then return nil end
  local fixed = pat:match("^[^*?%[{]*")
  local dir = fixed
  if #fixed < #pat then
    dir = fixed:match("^(.*)/")
    if dir == "" then dir = "/" end
  end
  if dir == nil or dir == "" then return nil end
  if type(input.path) == "string" and dir:sub(1, 1) ~= "/" and dir:sub(1, 1) ~= "~" then
    dir = input.path .. "/" .. dir
  end
  return dir
end

local function deletes_recursively(cmd)
  -- rm with -r/-R/--recursive combined with force, in any flag order
  for flags in cmd:gmatch("rm%s+(%-%-?[%w%-]+)") do
    if flags == "--recursive" or flags:match("^%-[^%-]*[rR]") then
      return true
    end
  end
  return ccmux.glob(cmd, "*rm -rf*") or ccmux.glob(cmd, "*rm -fr*")
end

function decide(req)
  local cwd = req.session.cwd
  if READ_ONLY[req.tool] then
    local p = target_path(req.input)
    local g = glob_folder(req.tool, req.input)
    if p ~= nil and not ccmux.path_inside(p, cwd) then
      return "ask", "read outside the project: " .. p
    end
    if g ~= nil and not ccmux.path_inside(g, cwd) then
      return "ask", "glob outside the project: " .. req.input.pattern
    end
    return "allow", "read-only tool inside the project"
  end
  if req.tool == "Bash" and type(req.input.command) == "string" and deletes_recursively(req.input.command) then
    return "deny", "recursive delete is not allowed by the default policy"
  end
  if WRITERS[req.tool] then
    local p = target_path(req.input)
    if p ~= nil and not ccmux.path_inside(p, cwd) then
      return "deny", "writing outside the project (" .. cwd .. ") is not allowed by the default policy"
    end
  end
  return "ask"
end
