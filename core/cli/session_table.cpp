#include "session_table.h"

#include <cstdio>
#include <string>

namespace ccmux::cli {

void print_sessions(const nlohmann::json& sessions, bool host_column) {
  if (host_column) printf("%-12s ", "HOST");
  printf("%-12s %-17s %-8s %-6s %-7s %-9s %-20s %s\n", "ID", "STATE", "COST", "TURNS", "MEM", "APPROVAL", "BRANCH", "CWD");
  for (auto& s : sessions) {
    char cost[32], mem[32];
    snprintf(cost, sizeof cost, "$%.4f", s.value("cost_usd", 0.0));
    int64_t rss = s.value("rss_bytes", int64_t{0});
    if (rss > 0) snprintf(mem, sizeof mem, "%lldM", static_cast<long long>(rss >> 20));
    else snprintf(mem, sizeof mem, "-");
    std::string state = s.value("state", "");
    if (int64_t pos = s.value("slot_queue_position", int64_t{0}); pos > 0) state += " #" + std::to_string(pos);
    if (host_column) printf("%-12s ", s.value("host", "").c_str());
    // BRANCH: the branch of the session's worktree (issue 15), "-" for a session in a plain folder.
    std::string branch = s.value("branch", "");
    printf("%-12s %-17s %-8s %-6lld %-7s %-9s %-20s %s\n", s.value("id", "").c_str(), state.c_str(), cost,
           static_cast<long long>(s.value("turns", 0)), mem, s.value("pending_approvals", false) ? "pending" : "-",
           branch.empty() ? "-" : branch.c_str(), s.value("cwd", "").c_str());
  }
}

}  // namespace ccmux::cli
