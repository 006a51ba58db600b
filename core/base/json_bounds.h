// JSON from outside (clients, claude, hooks, the policy worker) is parsed with a nesting
// limit: see <ccmux/json_bounds.hpp> (shared with plugins).
#pragma once

#include <ccmux/json_bounds.hpp>
#include <nlohmann/json.hpp>

namespace ccmux {

using sdk::kMaxJsonDepth;
using sdk::parse_json_bounded;

// Nesting depth of `j` (a scalar is 0, {} or [] is 1), counting no further than `limit` + 1.
int json_depth(const nlohmann::json& j, int limit);

}  // namespace ccmux
