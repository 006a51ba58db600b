#include "json_bounds.h"

#include <algorithm>

namespace ccmux {

using nlohmann::json;

int json_depth(const json& j, int limit) {
  if (!j.is_structured() || j.empty()) return j.is_structured() ? 1 : 0;
  if (limit <= 0) return 1;  // at least one level; the caller only asks "more than limit?"
  int deepest = 0;
  for (const auto& child : j) {
    deepest = std::max(deepest, json_depth(child, limit - 1));
    if (deepest >= limit) break;
  }
  return deepest + 1;
}

}  // namespace ccmux
