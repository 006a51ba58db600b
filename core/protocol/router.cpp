#include "protocol/router.h"

namespace ccmux {

using nlohmann::json;

namespace {
// Names echoed in messages are cut: a hostile client must not get its megabyte back.
std::string shown(std::string_view s) {
  constexpr size_t kMax = 80;
  return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "…";
}

RouteDecision refuse(std::string code, std::string message) {
  RouteDecision d;
  d.kind = RouteDecision::Kind::refused;
  d.code = std::move(code);
  d.message = std::move(message);
  return d;
}

RouteDecision remote(std::string target) {
  RouteDecision d;
  d.kind = RouteDecision::Kind::remote;
  d.target = std::move(target);
  return d;
}
}  // namespace

bool is_machine_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

RouteDecision decide_route(const json& params, const std::string* local_name) {
  RouteDecision d;
  if (!params.is_object()) return d;
  json rewritten;  // a copy, made only when something is stripped
  auto edit = [&]() -> json& {
    if (rewritten.is_null()) rewritten = params;
    return rewritten;
  };
  auto host = params.find("host");
  if (host != params.end() && !host->is_null()) {
    if (!host->is_string())
      return refuse("bad_params", "parameter 'host' must be a string: a machine's name, \"local\" or \"auto\"");
    const std::string& h = host->get_ref<const std::string&>();
    if (h.empty() || h == "local" || (local_name && h == *local_name)) {
      edit().erase("host");
    } else if (!local_name) {
      return refuse("unknown_host", "no machine named " + shown(h) + ": the fleet plugin is not enabled");
    } else if (h != "auto" && !is_machine_name(h)) {
      return refuse("bad_params", "parameter 'host' must name a machine (1-64 letters, digits, '-' or '_'), not " +
                                      shown(h));
    } else {
      return remote(h);
    }
  }
  for (const char* key : {"session", "id"}) {
    auto it = params.find(key);
    if (it == params.end() || !it->is_string()) continue;
    const std::string& v = it->get_ref<const std::string&>();
    size_t slash = v.find('/');
    if (slash == std::string::npos) continue;
    std::string_view name(v.data(), slash);
    if (!is_machine_name(name)) continue;  // no address: the method answers for it
    if (slash + 1 == v.size())
      return refuse("bad_params", std::string("parameter '") + key + "' names machine " + std::string(name) +
                                      " but nothing on it (nothing after the '/')");
    if (local_name && name == *local_name) {
      edit()[key] = v.substr(slash + 1);
      continue;
    }
    if (!local_name)
      return refuse("not_found", std::string("no ") + (std::string_view(key) == "session" ? "session " : "") +
                                     shown(v) + ": it names machine " + std::string(name) +
                                     ", and the fleet plugin is not enabled");
    return remote(std::string(name));
  }
  d.params = std::move(rewritten);
  return d;
}

}  // namespace ccmux
