// JSON from outside (clients, claude, hooks, HTTP answers) parsed with a nesting limit, for
// ccmuxd and plugins alike. nlohmann parses and destroys deep documents iteratively, but
// copying and dumping them recurse once per level: 200 KB of "[[[[…" copied or dumped
// overflows the stack. Header-only; needs nlohmann/json, which plugins bring themselves.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace ccmux::sdk {

// Deeper than any real message (claude's tool inputs, protocol messages) and shallow
// enough that copy/dump recursion stays a few hundred KB of stack.
inline constexpr int kMaxJsonDepth = 256;

// Parses `text`; on failure returns a discarded value and sets `error` (syntax, or "JSON
// nested deeper than N levels").
inline nlohmann::json parse_json_bounded(std::string_view text, std::string* error = nullptr,
                                         int max_depth = kMaxJsonDepth) {
  using nlohmann::json;
  struct TooDeep {};
  // The callback sees a container's start at the number of containers around it; throwing
  // stops the parse at the first level too many instead of reading the rest of the bomb.
  auto limit = [max_depth](int depth, json::parse_event_t ev, json&) {
    if ((ev == json::parse_event_t::object_start || ev == json::parse_event_t::array_start) && depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), limit, /*allow_exceptions=*/true);
  } catch (const TooDeep&) {
    if (error) *error = "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  } catch (const json::exception& e) {
    if (error) *error = e.what();
  }
  return json(json::value_t::discarded);
}

}  // namespace ccmux::sdk
