#include "json_bounds.h"

namespace ccmux {

using nlohmann::json;

namespace {
struct TooDeep {};
}  // namespace

json parse_json_bounded(std::string_view text, std::string* error, int max_depth) {
  // The callback sees a container's start at the number of containers around it; throwing
  // stops the parse at the first level too many instead of reading the rest of the bomb.
  auto limit = [max_depth](int depth, json::parse_event_t ev, json&) {
    if ((ev == json::parse_event_t::object_start || ev == json::parse_event_t::array_start) && depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    json j = json::parse(text.begin(), text.end(), limit, /*allow_exceptions=*/true);
    return j;
  } catch (const TooDeep&) {
    if (error) *error = "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  } catch (const json::exception& e) {
    if (error) *error = e.what();
  }
  return json(json::value_t::discarded);
}

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
