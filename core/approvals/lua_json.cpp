#include "approvals/lua_json.h"

#include <lua.hpp>

#include <algorithm>
#include <vector>

namespace ccmux {

using nlohmann::json;

void push_json(lua_State* L, const json& j) {
  // Each level holds a table and a key on the stack while its child is pushed.
  luaL_checkstack(L, 4, "tool input too deep for the policy stack");
  switch (j.type()) {
    case json::value_t::object:
      lua_createtable(L, 0, static_cast<int>(std::min<size_t>(j.size(), 1u << 20)));
      for (auto it = j.begin(); it != j.end(); ++it) {
        lua_pushlstring(L, it.key().data(), it.key().size());
        push_json(L, it.value());
        lua_rawset(L, -3);
      }
      break;
    case json::value_t::array: {
      lua_createtable(L, static_cast<int>(std::min<size_t>(j.size(), 1u << 20)), 0);
      lua_Integer i = 1;
      for (const auto& v : j) {
        push_json(L, v);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case json::value_t::boolean:
      lua_pushboolean(L, j.get<bool>());
      break;
    case json::value_t::number_integer:
      lua_pushinteger(L, j.get<int64_t>());
      break;
    case json::value_t::number_unsigned:
      // Above INT64_MAX a Lua integer would wrap; a float keeps the magnitude.
      if (j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) lua_pushnumber(L, static_cast<double>(j.get<uint64_t>()));
      else lua_pushinteger(L, static_cast<lua_Integer>(j.get<uint64_t>()));
      break;
    case json::value_t::number_float:
      lua_pushnumber(L, j.get<double>());
      break;
    default:
      lua_pushnil(L);
  }
}

namespace {

// Only raw accesses and pushes within checked stack space: nothing here can raise.
constexpr size_t kNodeCost = 32;

struct Converter {
  lua_State* L;
  size_t budget;
  std::string error;
  std::vector<const void*> path;  // tables being converted, outermost first: a repeat is a cycle

  bool fail(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }
  bool spend(size_t n) {
    if (n > budget) return fail("updated_input is too large (over the policy output limit)");
    budget -= n;
    return true;
  }

  bool convert(int idx, json& out) {
    // Every value costs a node's memory besides its text: a table of a million empty tables
    // (or one table referenced a million times) is refused like a huge string.
    if (!spend(kNodeCost)) return false;
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
      case LUA_TSTRING: {
        size_t n = 0;
        const char* s = lua_tolstring(L, idx, &n);
        if (!spend(n + 2)) return false;
        out = std::string(s, n);
        return true;
      }
      case LUA_TBOOLEAN:
        out = lua_toboolean(L, idx) != 0;
        return true;
      case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) out = static_cast<int64_t>(lua_tointeger(L, idx));
        else out = lua_tonumber(L, idx);
        return true;
      case LUA_TTABLE:
        return table(idx, out);
      default:  // nil, functions, userdata: nothing JSON can carry
        out = nullptr;
        return true;
    }
  }

  bool table(int idx, json& out) {
    const void* self = lua_topointer(L, idx);
    if (std::find(path.begin(), path.end(), self) != path.end()) return fail("updated_input contains a table that contains itself");
    if (path.size() >= static_cast<size_t>(kMaxPolicyDepth))
      return fail("updated_input is nested deeper than " + std::to_string(kMaxPolicyDepth) + " levels");
    if (!lua_checkstack(L, 4)) return fail("updated_input is nested too deep for the Lua stack");
    path.push_back(self);
    bool ok = true;
    lua_Integer len = static_cast<lua_Integer>(lua_rawlen(L, idx));
    if (len > 0) {
      out = json::array();
      for (lua_Integer i = 1; ok && i <= len; ++i) {
        lua_rawgeti(L, idx, i);
        json item;
        ok = convert(-1, item);
        lua_pop(L, 1);
        if (ok) out.push_back(std::move(item));
      }
    } else {
      out = json::object();
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        // Only string keys are kept; lua_tolstring on a number key would change it and break next().
        if (ok && lua_type(L, -2) == LUA_TSTRING) {
          size_t n = 0;
          const char* k = lua_tolstring(L, -2, &n);
          json item;
          ok = spend(n + 3) && convert(-1, item);
          if (ok) out[std::string(k, n)] = std::move(item);
        }
        lua_pop(L, 1);
        if (!ok) {
          lua_pop(L, 1);  // the key: the traversal ends early
          break;
        }
      }
    }
    path.pop_back();
    return ok;
  }
};

}  // namespace

bool lua_to_json(lua_State* L, int idx, json& out, std::string& error, size_t max_bytes) {
  Converter c{L, max_bytes, {}, {}};
  bool ok = c.convert(idx, out);
  if (!ok) {
    error = c.error;
    out = nullptr;
  }
  return ok;
}

}  // namespace ccmux
