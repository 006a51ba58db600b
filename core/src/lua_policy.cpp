#include "lua_policy.h"

#include "util.h"

#include <lua.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <ctime>
#include <fnmatch.h>
#include <fstream>
#include <sstream>

namespace ccmux {
namespace {

// --- host helpers (no C++ objects with destructors in these frames: luaL_error longjmps)

int l_glob(lua_State* L) {
  const char* s = luaL_checkstring(L, 1);
  const char* pat = luaL_checkstring(L, 2);
  lua_pushboolean(L, fnmatch(pat, s, 0) == 0);
  return 1;
}

int l_log(lua_State* L) {
  const char* msg = luaL_checkstring(L, 1);
  lua_Debug ar;
  const char* src = "policy";
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar)) src = ar.short_src;
  spdlog::info("lua {}: {}", src, msg);
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

void budget_hook(lua_State* L, lua_Debug*) { luaL_error(L, "instruction budget exceeded"); }

int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

void push_json(lua_State* L, const nlohmann::json& j, int depth = 0) {
  if (depth > 64) {
    lua_pushnil(L);
    return;
  }
  switch (j.type()) {
    case nlohmann::json::value_t::object:
      lua_createtable(L, 0, static_cast<int>(j.size()));
      for (auto it = j.begin(); it != j.end(); ++it) {
        lua_pushlstring(L, it.key().data(), it.key().size());
        push_json(L, it.value(), depth + 1);
        lua_rawset(L, -3);
      }
      break;
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(j.size()), 0);
      lua_Integer i = 1;
      for (auto& v : j) {
        push_json(L, v, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::string: {
      auto& s = j.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case nlohmann::json::value_t::boolean:
      lua_pushboolean(L, j.get<bool>());
      break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      lua_pushinteger(L, j.get<lua_Integer>());
      break;
    case nlohmann::json::value_t::number_float:
      lua_pushnumber(L, j.get<double>());
      break;
    default:
      lua_pushnil(L);
  }
}

nlohmann::json to_json(lua_State* L, int idx, int depth = 0) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, idx, &n);
      return std::string(s, n);
    }
    case LUA_TBOOLEAN:
      return lua_toboolean(L, idx) != 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return static_cast<int64_t>(lua_tointeger(L, idx));
      return lua_tonumber(L, idx);
    case LUA_TTABLE: {
      if (depth > 64) return nullptr;
      lua_Integer len = static_cast<lua_Integer>(lua_rawlen(L, idx));
      if (len > 0) {
        auto arr = nlohmann::json::array();
        for (lua_Integer i = 1; i <= len; ++i) {
          lua_rawgeti(L, idx, i);
          arr.push_back(to_json(L, -1, depth + 1));
          lua_pop(L, 1);
        }
        return arr;
      }
      auto obj = nlohmann::json::object();
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) obj[lua_tostring(L, -2)] = to_json(L, -1, depth + 1);
        lua_pop(L, 1);
      }
      return obj;
    }
    default:
      return nullptr;
  }
}

int build_request(lua_State* L) {
  const auto& req = *static_cast<const PolicyRequest*>(lua_touserdata(L, 1));
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, req.tool.data(), req.tool.size());
  lua_setfield(L, -2, "tool");
  push_json(L, req.input);
  lua_setfield(L, -2, "input");
  push_json(L, req.suggestions);
  lua_setfield(L, -2, "suggestions");
  lua_createtable(L, 0, 3);
  lua_pushstring(L, req.session_id.c_str());
  lua_setfield(L, -2, "id");
  lua_pushstring(L, req.cwd.c_str());
  lua_setfield(L, -2, "cwd");
  lua_pushstring(L, req.model.c_str());
  lua_setfield(L, -2, "model");
  lua_setfield(L, -2, "session");
  return 1;
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
  luaL_requiref(L_, "_G", luaopen_base, 1);
  luaL_requiref(L_, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L_, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L_, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L_, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_pop(L_, 5);
  for (const char* name : {"dofile", "loadfile", "require", "collectgarbage", "load"}) {
    lua_pushnil(L_);
    lua_setglobal(L_, name);
  }
  lua_pushcfunction(L_, l_load_text);
  lua_setglobal(L_, "load");
  lua_getglobal(L_, "string");
  lua_pushnil(L_);
  lua_setfield(L_, -2, "dump");
  lua_pop(L_, 1);
  // os: only time and clock.
  lua_createtable(L_, 0, 2);
  lua_pushcfunction(L_, l_os_time);
  lua_setfield(L_, -2, "time");
  lua_pushcfunction(L_, l_os_clock);
  lua_setfield(L_, -2, "clock");
  lua_setglobal(L_, "os");
  lua_createtable(L_, 0, 3);
  lua_pushcfunction(L_, l_glob);
  lua_setfield(L_, -2, "glob");
  lua_pushcfunction(L_, l_log);
  lua_setfield(L_, -2, "log");
  lua_pushcfunction(L_, l_path_inside);
  lua_setfield(L_, -2, "path_inside");
  lua_setglobal(L_, "ccmux");
}

LuaPolicy::~LuaPolicy() {
  if (L_) lua_close(L_);
}

std::string LuaPolicy::load(const std::string& source) {
  lua_settop(L_, 0);
  lua_pushcfunction(L_, traceback);
  std::string chunk = "@" + name_;
  if (luaL_loadbufferx(L_, source.data(), source.size(), chunk.c_str(), "t") != LUA_OK) {
    std::string err = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "load error";
    lua_settop(L_, 0);
    return err;
  }
  lua_sethook(L_, budget_hook, LUA_MASKCOUNT, static_cast<int>(limits_.instructions));
  int rc = lua_pcall(L_, 0, 0, 1);
  lua_sethook(L_, nullptr, 0, 0);
  if (rc != LUA_OK) {
    std::string err = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "not enough memory";
    lua_settop(L_, 0);
    return err;
  }
  lua_getglobal(L_, "decide");
  bool ok = lua_isfunction(L_, -1);
  lua_settop(L_, 0);
  return ok ? "" : name_ + ": the script does not define decide(req)";
}

PolicyVerdict LuaPolicy::decide(const PolicyRequest& req) {
  PolicyVerdict v;
  lua_settop(L_, 0);
  lua_pushcfunction(L_, traceback);
  // Building the request table allocates: do it in protected mode so the memory cap
  // turns into an error, not a panic.
  lua_pushcfunction(L_, build_request);
  lua_pushlightuserdata(L_, const_cast<PolicyRequest*>(&req));
  if (lua_pcall(L_, 1, 1, 0) != LUA_OK) {
    v.decision = "ask";
    v.error = name_ + ": request too large for the policy memory limit";
    lua_settop(L_, 0);
    lua_gc(L_, LUA_GCCOLLECT);
    return v;
  }
  lua_getglobal(L_, "decide");
  lua_insert(L_, -2);
  // Re-arm per call: the count is cumulative otherwise.
  lua_sethook(L_, budget_hook, LUA_MASKCOUNT, static_cast<int>(limits_.instructions));
  int rc = lua_pcall(L_, 1, 2, 1);
  lua_sethook(L_, nullptr, 0, 0);
  if (rc != LUA_OK) {
    v.decision = "ask";
    v.error = rc == LUA_ERRMEM ? name_ + ": memory limit exceeded" : (lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "error");
    lua_settop(L_, 0);
    lua_gc(L_, LUA_GCCOLLECT);
    return v;
  }
  auto set_decision = [&](const std::string& d) {
    if (d == "allow" || d == "deny" || d == "ask") v.decision = d;
    else {
      v.decision = "ask";
      v.error = name_ + ": decide() returned '" + d + "' (expected allow, deny, ask or nil)";
    }
  };
  if (lua_type(L_, 2) == LUA_TSTRING) {
    set_decision(lua_tostring(L_, 2));
    if (lua_type(L_, 3) == LUA_TSTRING) v.reason = lua_tostring(L_, 3);
  } else if (lua_type(L_, 2) == LUA_TTABLE) {
    lua_getfield(L_, 2, "decision");
    if (lua_type(L_, -1) == LUA_TSTRING) set_decision(lua_tostring(L_, -1));
    lua_getfield(L_, 2, "reason");
    if (lua_type(L_, -1) == LUA_TSTRING) v.reason = lua_tostring(L_, -1);
    lua_getfield(L_, 2, "updated_input");
    if (lua_type(L_, -1) == LUA_TTABLE) v.updated_input = to_json(L_, -1);
  } else if (lua_type(L_, 2) != LUA_TNIL) {
    v.decision = "ask";
    v.error = name_ + ": decide() returned a " + luaL_typename(L_, 2);
  }
  lua_settop(L_, 0);
  return v;
}

bool read_policy_source(const std::string& spec, std::string& source, std::string& error) {
  if (spec == "builtin:default") {
    source = kBuiltinDefaultPolicy;
    return true;
  }
  std::ifstream in(expand_home(spec));
  if (!in) {
    error = spec + ":0: cannot read the policy file";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  source = ss.str();
  return true;
}

std::vector<std::string> PolicyEngine::load(const std::vector<std::string>& specs) {
  std::vector<std::string> errors;
  std::vector<std::pair<std::string, std::unique_ptr<LuaPolicy>>> next;
  for (const auto& spec : specs) {
    std::string source, err;
    std::unique_ptr<LuaPolicy> script;
    if (read_policy_source(spec, source, err)) {
      script = std::make_unique<LuaPolicy>(spec, limits_);
      err = script->load(source);
    }
    if (!err.empty()) {
      errors.push_back(err);
      script.reset();
      for (auto& [old_spec, old] : scripts_)  // keep the version that worked
        if (old_spec == spec && old) script = std::move(old);
    }
    if (script) next.emplace_back(spec, std::move(script));
  }
  scripts_ = std::move(next);
  return errors;
}

PolicyEngine::Decision PolicyEngine::evaluate(const PolicyRequest& req) {
  Decision d;
  for (auto& [spec, script] : scripts_) {
    PolicyVerdict v = script->decide(req);
    if (!v.error.empty()) spdlog::warn("policy {}: {} (treated as ask)", spec, v.error);
    if (v.decision == "allow" || v.decision == "deny") {
      d.verdict = std::move(v);
      d.decided_by = "policy:" + spec;
      return d;
    }
    if (v.decision == "ask" && d.verdict.decision.empty()) {
      d.verdict = std::move(v);  // remembered for the record; later scripts may still decide
      d.decided_by = "policy:" + spec;
    }
  }
  return d;
}

}  // namespace ccmux
