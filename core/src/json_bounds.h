// JSON from outside (clients, claude, hooks, the policy worker) is parsed with a nesting
// limit: nlohmann parses and destroys deep documents iteratively, but copying and dumping
// them recurse once per level, so a 200 KB "[[[[…" copied or dumped overflows the stack.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace ccmux {

// Deeper than any real message (claude's tool inputs, protocol messages) and shallow
// enough that copy/dump recursion stays a few hundred KB of stack.
inline constexpr int kMaxJsonDepth = 256;

// Parses `text`; on failure returns a discarded value and sets `error` (syntax or depth).
nlohmann::json parse_json_bounded(std::string_view text, std::string* error = nullptr, int max_depth = kMaxJsonDepth);

// Nesting depth of `j` (a scalar is 0, {} or [] is 1), counting no further than `limit` + 1.
int json_depth(const nlohmann::json& j, int limit);

}  // namespace ccmux
