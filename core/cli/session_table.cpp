#include "session_table.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace ccmux::cli {

void print_sessions(const nlohmann::json& sessions, bool host_column) {
  // Fleet ids ("build-box/s-1a2b3c4d") are longer than local ones: the column fits the longest.
  int id_width = 12;
  for (auto& s : sessions) id_width = std::max(id_width, static_cast<int>(s.value("id", "").size()));
  if (host_column) printf("%-12s ", "HOST");
  printf("%-*s %-17s %-8s %-6s %-7s %-9s %-20s %s\n", id_width, "ID", "STATE", "COST", "TURNS", "MEM", "APPROVAL", "BRANCH",
         "CWD");
  for (auto& s : sessions) {
    char cost[32], mem[32];
    snprintf(cost, sizeof cost, "$%.4f", s.value("cost_usd", 0.0));
    int64_t rss = s.value("rss_bytes", int64_t{0});
    if (rss > 0) snprintf(mem, sizeof mem, "%lldM", static_cast<long long>(rss >> 20));
    else snprintf(mem, sizeof mem, "-");
    std::string state = s.value("state", "");
    if (int64_t pos = s.value("slot_queue_position", int64_t{0}); pos > 0) state += " #" + std::to_string(pos);
    // ls --fleet: a session of a machine that is down, as it last answered.
    if (s.contains("reachable") && s["reachable"] == false) state = "unreachable";
    if (host_column) printf("%-12s ", s.value("host", "").c_str());
    // BRANCH: the branch of the session's worktree (issue 15), "-" for a session in a plain folder.
    std::string branch = s.value("branch", "");
    printf("%-*s %-17s %-8s %-6lld %-7s %-9s %-20s %s\n", id_width, s.value("id", "").c_str(), state.c_str(), cost,
           static_cast<long long>(s.value("turns", 0)), mem, s.value("pending_approvals", false) ? "pending" : "-",
           branch.empty() ? "-" : branch.c_str(), s.value("cwd", "").c_str());
  }
}

}  // namespace ccmux::cli
