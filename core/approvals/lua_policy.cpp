#include "approvals/lua_policy.h"

#include "approvals/lua_json.h"
#include "json_bounds.h"
#include "util.h"

#include <lua.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fnmatch.h>
#include <limits>

namespace ccmux {
namespace {

// --- host helpers (no C++ objects with destructors in these frames: luaL_error longjmps)

LuaPolicy* owner(lua_State* L) { return *static_cast<LuaPolicy**>(lua_getextraspace(L)); }

int l_glob(lua_State* L) {
  const char* s = luaL_checkstring(L, 1);
  const char* pat = luaL_checkstring(L, 2);
  lua_pushboolean(L, fnmatch(pat, s, 0) == 0);
  return 1;
}

constexpr int kMaxLogsPerCall = 20;
constexpr size_t kMaxLogBytes = 1000;

int l_log(lua_State* L) {
  size_t n = 0;
  const char* msg = luaL_checklstring(L, 1, &n);
  // A script logging in a loop must not flood the daemon's journal.
  if (++owner(L)->logs_this_call > kMaxLogsPerCall) return 0;
  lua_Debug ar;
  const char* src = "policy";
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar)) src = ar.short_src;
  spdlog::info("lua {}: {}{}", src, std::string_view(msg, std::min(n, kMaxLogBytes)), n > kMaxLogBytes ? "…" : "");
  return 0;
}

int l_path_inside(lua_State* L) {
  const char* p = luaL_checkstring(L, 1);
  const char* root = luaL_checkstring(L, 2);
  bool inside = false;
  try {
    // A relative path is taken relative to `root` (claude's tools may pass cwd-relative paths).
    std::string path = (p[0] == '/' || p[0] == '~') ? std::string(p) : std::string(root) + "/" + p;
    inside = path_inside(path, root);
  } catch (...) {
  }
  lua_pushboolean(L, inside);
  return 1;
}

// load() that accepts text chunks only.
int l_load_text(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  const char* chunkname = luaL_optstring(L, 2, "=(load)");
  if (luaL_loadbufferx(L, s, len, chunkname, "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

int l_os_time(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(time(nullptr)));
  return 1;
}
int l_os_clock(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(clock()) / CLOCKS_PER_SEC);
  return 1;
}

// Once the budget is spent the hook fires at every instruction, and pcall/xpcall pass the
// error on: `while true do pcall(function() while true do end end) end` ends too.
void budget_hook(lua_State* L, lua_Debug*) {
  owner(L)->budget_exhausted = true;
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
  luaL_error(L, "instruction budget exceeded");
}

int l_pcall(lua_State* L) {
  luaL_checkany(L, 1);
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  if (status != LUA_OK && owner(L)->budget_exhausted) return lua_error(L);
  lua_pushboolean(L, status == LUA_OK);
  lua_insert(L, 1);
  return lua_gettop(L);
}

int l_xpcall(lua_State* L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 1);  // [f, msgh, args..., f] -> [msgh, f, args...]
  lua_copy(L, 2, 1);
  lua_replace(L, 2);
  int status = lua_pcall(L, n - 2, LUA_MULTRET, 1);
  if (status != LUA_OK && owner(L)->budget_exhausted) return lua_error(L);
  lua_pushboolean(L, status == LUA_OK);
  lua_replace(L, 1);
  return lua_gettop(L);
}

// Finalizers run with hooks off (Lua 5.4 GCTM), so a __gc that loops would escape the budget
// at any allocation, at reload and at close. Policies have no use for them: refused.
int l_setmetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "policies may not set __gc finalizers");
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, 1);
  return 1;
}

int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);  // never calls __tostring: an error object cannot loop here
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

void set_global_fn(lua_State* L, const char* name, lua_CFunction fn) {
  lua_pushcfunction(L, fn);
  lua_setglobal(L, name);
}

int setup_sandbox(lua_State* L) {
  luaL_requiref(L, "_G", luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_pop(L, 5);
  for (const char* name : {"dofile", "loadfile", "require", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  set_global_fn(L, "load", l_load_text);
  set_global_fn(L, "pcall", l_pcall);
  set_global_fn(L, "xpcall", l_xpcall);
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, l_setmetatable, 1);
  lua_setglobal(L, "setmetatable");
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  // os: only time and clock.
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, l_os_time);
  lua_setfield(L, -2, "time");
  lua_pushcfunction(L, l_os_clock);
  lua_setfield(L, -2, "clock");
  lua_setglobal(L, "os");
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, l_glob);
  lua_setfield(L, -2, "glob");
  lua_pushcfunction(L, l_log);
  lua_setfield(L, -2, "log");
  lua_pushcfunction(L, l_path_inside);
  lua_setfield(L, -2, "path_inside");
  lua_setglobal(L, "ccmux");
  return 0;
}

// The globals table read without metamethods: a script may give _G an __index that errors or loops.
int push_raw_global(lua_State* L, const char* name) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_pushstring(L, name);
  int t = lua_rawget(L, -2);
  lua_remove(L, -2);
  return t;
}

int check_decide_defined(lua_State* L) {
  lua_pushboolean(L, push_raw_global(L, "decide") == LUA_TFUNCTION);
  return 1;
}

int load_chunk(lua_State* L) {
  auto* src = static_cast<const std::string*>(lua_touserdata(L, 1));
  auto* name = static_cast<const std::string*>(lua_touserdata(L, 2));
  if (luaL_loadbufferx(L, src->data(), src->size(), name->c_str(), "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, 0);
  return 0;
}

void push_request(lua_State* L, const PolicyRequest& req) {
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, req.tool.data(), req.tool.size());
  lua_setfield(L, -2, "tool");
  push_json(L, req.input);
  lua_setfield(L, -2, "input");
  push_json(L, req.suggestions);
  lua_setfield(L, -2, "suggestions");
  lua_createtable(L, 0, 3);
  lua_pushlstring(L, req.session_id.data(), req.session_id.size());
  lua_setfield(L, -2, "id");
  lua_pushlstring(L, req.cwd.data(), req.cwd.size());
  lua_setfield(L, -2, "cwd");
  lua_pushlstring(L, req.model.data(), req.model.size());
  lua_setfield(L, -2, "model");
  lua_setfield(L, -2, "session");
}

// Kinds of result protected_decide leaves for the host, with (decision, reason, updated_input).
enum ResultKind : lua_Integer { kPlain = 0, kTable = 1, kBadType = 2 };

// decide(req) from building the request to reading the answer, all in protected mode, and
// the answer's fields read raw (a returned table's __index is never called).
int protected_decide(lua_State* L) {
  const auto& req = *static_cast<const PolicyRequest*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  if (push_raw_global(L, "decide") != LUA_TFUNCTION) return luaL_error(L, "decide is not a function any more");
  push_request(L, req);
  lua_call(L, 1, 2);  // [r1, r2]
  int t = lua_type(L, 1);
  if (t == LUA_TTABLE) {
    lua_pushinteger(L, kTable);
    for (const char* key : {"decision", "reason", "updated_input"}) {
      lua_pushstring(L, key);
      lua_rawget(L, 1);
    }
  } else if (t == LUA_TSTRING || t == LUA_TNIL) {
    lua_pushinteger(L, kPlain);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushnil(L);
  } else {
    lua_pushinteger(L, kBadType);
    lua_pushstring(L, luaL_typename(L, 1));
    lua_pushnil(L);
    lua_pushnil(L);
  }
  return 4;
}

}  // namespace

void* LuaPolicy::alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* self = static_cast<LuaPolicy*>(ud);
  size_t old = ptr ? osize : 0;  // when ptr is NULL, osize is a type tag
  if (nsize == 0) {
    self->used_ -= old;
    std::free(ptr);
    return nullptr;
  }
  if (nsize > old && self->used_ + (nsize - old) > self->limits_.memory_bytes) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (p) self->used_ = self->used_ - old + nsize;
  return p;
}

LuaPolicy::LuaPolicy(std::string name, LuaLimits limits) : name_(std::move(name)), limits_(limits) {
  // lua_sethook takes an int count.
  limits_.instructions = std::clamp<int64_t>(limits_.instructions, 1000, std::numeric_limits<int>::max());
  L_ = lua_newstate(&LuaPolicy::alloc, this);
  if (!L_) {
    setup_error_ = name_ + ": cannot create a Lua state within the memory limit";
    return;
  }
  *static_cast<LuaPolicy**>(lua_getextraspace(L_)) = this;
  if (run_protected(setup_sandbox, nullptr, 0) != LUA_OK) setup_error_ = name_ + ": cannot set up the sandbox (memory limit too small?)";
  lua_settop(L_, 0);
}

LuaPolicy::~LuaPolicy() {
  if (L_) lua_close(L_);  // no finalizers can exist (setmetatable refuses __gc): this cannot loop
}

int LuaPolicy::run_protected(int (*fn)(lua_State*), void* arg, int nresults) {
  lua_settop(L_, 0);
  lua_pushcfunction(L_, traceback);
  lua_pushcfunction(L_, fn);
  lua_pushlightuserdata(L_, arg);
  budget_exhausted = false;
  logs_this_call = 0;
  // Re-armed per call: the count is cumulative otherwise.
  lua_sethook(L_, budget_hook, LUA_MASKCOUNT, static_cast<int>(limits_.instructions));
  int rc = lua_pcall(L_, 1, nresults, 1);
  lua_sethook(L_, nullptr, 0, 0);
  return rc;
}

std::string LuaPolicy::status_error(int rc) {
  std::string err = rc == LUA_ERRMEM ? name_ + ": memory limit exceeded" : (lua_type(L_, -1) == LUA_TSTRING ? lua_tostring(L_, -1) : "error");
  if (budget_exhausted && err.find("instruction budget exceeded") == std::string::npos)
    err = name_ + ": instruction budget exceeded (" + err + ")";
  lua_settop(L_, 0);
  lua_gc(L_, LUA_GCCOLLECT);
  return err;
}

std::string LuaPolicy::load(const std::string& source) {
  if (!setup_error_.empty()) return setup_error_;
  // Chunk loading and running go through one protected call so even a failing allocation
  // while compiling is an error, not a panic.
  std::string chunk = "@" + name_;
  lua_settop(L_, 0);
  lua_pushcfunction(L_, traceback);
  lua_pushcfunction(L_, load_chunk);
  lua_pushlightuserdata(L_, const_cast<std::string*>(&source));
  lua_pushlightuserdata(L_, &chunk);
  budget_exhausted = false;
  logs_this_call = 0;
  lua_sethook(L_, budget_hook, LUA_MASKCOUNT, static_cast<int>(limits_.instructions));
  int rc = lua_pcall(L_, 2, 0, 1);
  lua_sethook(L_, nullptr, 0, 0);
  if (rc != LUA_OK) return status_error(rc);
  rc = run_protected(check_decide_defined, nullptr, 1);
  if (rc != LUA_OK) return status_error(rc);
  bool ok = lua_toboolean(L_, -1);
  lua_settop(L_, 0);
  return ok ? "" : name_ + ": the script does not define decide(req)";
}

PolicyVerdict LuaPolicy::decide(const PolicyRequest& req) {
  PolicyVerdict v;
  if (!setup_error_.empty()) {
    v.decision = "ask";
    v.error = setup_error_;
    return v;
  }
  for (const nlohmann::json* part : {&req.input, &req.suggestions})
    if (json_depth(*part, kMaxPolicyDepth) > kMaxPolicyDepth) {
      v.decision = "ask";
      v.error = name_ + ": tool input nested deeper than " + std::to_string(kMaxPolicyDepth) +
                " levels; not given to the policy";
      return v;
    }
  int rc = run_protected(protected_decide, const_cast<PolicyRequest*>(&req), 4);
  if (rc != LUA_OK) {
    v.decision = "ask";
    v.error = status_error(rc);
    return v;
  }
  // Stack: [traceback, kind, decision, reason, updated_input]; reading them cannot raise.
  const int kind_at = lua_gettop(L_) - 3, decision_at = kind_at + 1, reason_at = kind_at + 2, updated_at = kind_at + 3;
  auto kind = static_cast<ResultKind>(lua_tointeger(L_, kind_at));
  auto set_decision = [&](const std::string& d) {
    if (d == "allow" || d == "deny" || d == "ask") {
      v.decision = d;
    } else {
      v.decision = "ask";
      v.error = name_ + ": decide() returned '" + d + "' (expected allow, deny, ask or nil)";
    }
  };
  if (kind == kBadType) {
    v.decision = "ask";
    v.error = name_ + ": decide() returned a " + std::string(lua_tostring(L_, decision_at));
  } else {
    if (lua_type(L_, decision_at) == LUA_TSTRING) {
      size_t n = 0;
      const char* d = lua_tolstring(L_, decision_at, &n);
      set_decision(std::string(d, n));
    }
    if (lua_type(L_, reason_at) == LUA_TSTRING) {
      size_t n = 0;
      const char* r = lua_tolstring(L_, reason_at, &n);
      v.reason.assign(r, n);
    }
    if (kind == kTable && lua_type(L_, updated_at) == LUA_TTABLE) {
      std::string err;
      if (!lua_to_json(L_, updated_at, v.updated_input, err)) {
        v.decision = "ask";
        v.error = name_ + ": " + err;
        v.updated_input = nullptr;
      }
    }
  }
  lua_settop(L_, 0);
  return v;
}

}  // namespace ccmux
