#include "fleet_table.h"

#include <cstdio>

namespace ccmux::cli {

using nlohmann::json;

std::string human_bytes(int64_t bytes) {
  if (bytes <= 0) return "-";
  char b[32];
  if (bytes >= (int64_t{1} << 30)) std::snprintf(b, sizeof b, "%.1fG", static_cast<double>(bytes) / (1 << 30));
  else std::snprintf(b, sizeof b, "%lldM", static_cast<long long>(bytes >> 20));
  return b;
}

namespace {

// A field of another machine's heartbeat: tolerant of a missing or mistyped one (another
// minor version may lack it), as the fleet protocol asks of readers.
int64_t number(const json& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && it->is_number() ? it->get<int64_t>() : 0;
}
std::string text(const json& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string machines_table(const json& machines, int64_t now_ms) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-20s %-13s %-9s %-8s %-9s %-8s %-10s %s\n", "MACHINE", "STATE", "LIVE", "MEM FREE",
                "SESSIONS", "PENDING", "VERSION", "NOTE");
  out += line;
  if (!machines.is_array()) return out;
  for (auto& m : machines) {
    if (!m.is_object()) continue;
    std::string name = text(m, "name"), state = text(m, "state");
    if (m.contains("local") && m["local"] == true) name += " (here)";
    std::string live = std::to_string(number(m, "live")) + "/" + std::to_string(number(m, "max_live"));
    std::string note = text(m, "reason");
    if (state == "down" && note.empty() && number(m, "last_seen_ms") > 0) {
      int64_t ago = (now_ms - number(m, "last_seen_ms")) / 1000;
      note = "last seen " + std::to_string(ago < 0 ? 0 : ago) + " s ago";
    }
    std::string version = text(m, "version");
    std::snprintf(line, sizeof line, "%-20s %-13s %-9s %-8s %-9lld %-8lld %-10s ", name.c_str(),
                  state.empty() ? "?" : state.c_str(), live.c_str(), human_bytes(number(m, "mem_available")).c_str(),
                  static_cast<long long>(number(m, "sessions")), static_cast<long long>(number(m, "pending")),
                  version.empty() ? "-" : version.c_str());
    std::string l = line + note;  // a reason can be long: not through the fixed buffer
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  }
  return out;
}

}  // namespace ccmux::cli
