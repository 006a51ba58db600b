// JSON <-> Lua values for policy calls, safe against what a model or a script can build:
// nesting is capped (the Lua C stack is grown level by level, never overflowed), tables
// that contain themselves and tables that expand to huge documents are refused.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

struct lua_State;

namespace ccmux {

// Deepest tool input (or updated_input) a policy sees: beyond it the call is not run ("ask").
inline constexpr int kMaxPolicyDepth = 64;

// Pushes `j` as a Lua value. May raise a Lua error (memory, stack): call it in protected
// mode. The caller has checked json_depth(j) <= kMaxPolicyDepth.
void push_json(lua_State* L, const nlohmann::json& j);

// Converts the Lua value at `idx` to JSON without calling metamethods and without raising
// Lua errors (safe outside protected mode). Returns false with `error` set when the value is
// nested too deep, contains a cycle or would exceed `max_bytes` of JSON text (roughly).
bool lua_to_json(lua_State* L, int idx, nlohmann::json& out, std::string& error, size_t max_bytes = 16u << 20);

}  // namespace ccmux
