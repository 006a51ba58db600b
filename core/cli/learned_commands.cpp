#include "learned_commands.h"

#include "client.h"

#include <cstdio>
#include <iostream>

namespace ccmux::cli {

using nlohmann::json;

namespace {
const char* kLevels[] = {"observe: learn only", "suggest: hints on approvals", "auto: read-only + learned patterns",
                         "trust: everything a policy does not deny"};
}

int autonomy_command(const std::string& socket_path, std::optional<int> level) {
  Client c(socket_path);
  json r = level ? c.request("autonomy.set", {{"level", *level}}) : c.request("autonomy.get");
  int l = r.value("level", 0);
  std::cout << "autonomy " << l << " (" << (l >= 0 && l <= 3 ? kLevels[l] : "?") << ")\n";
  return 0;
}

int learned_command(const std::string& socket_path, bool json_out) {
  Client c(socket_path);
  json r = c.request("approval.learned");
  if (json_out) {
    std::cout << r.dump(2) << "\n";
    return 0;
  }
  std::cout << "autonomy " << r.value("level", 0) << "\n";
  if (r["patterns"].empty()) std::cout << "no learned patterns yet\n";
  for (auto& p : r["patterns"]) {
    char conf[16];
    std::snprintf(conf, sizeof conf, "%.2f", p.value("confidence", 0.0));
    // BLOCKED: kept from an earlier version or list, but today's rules never let it approve.
    const char* mark = p.value("blocked", false) ? "BLOCKED " : p.value("auto", false) ? "AUTO " : "     ";
    std::cout << mark << p.value("pattern", "") << "\t" << p.value("approvals", 0)
              << " approvals since last denial, " << p.value("denials", 0) << " denials, confidence " << conf
              << (p.value("always", false) ? ", always" : "") << "\te.g. " << p.value("last_example", "") << "\n";
  }
  return 0;
}

int forget_command(const std::string& socket_path, const std::string& pattern) {
  Client c(socket_path);
  json r = c.request("approval.forget", {{"pattern", pattern}});
  if (!r.value("forgotten", false)) {
    std::cerr << "no learned pattern '" << pattern << "' (see: ccmux approvals --learned)\n";
    return 1;
  }
  std::cout << "forgot " << pattern << "\n";
  return 0;
}

}  // namespace ccmux::cli
