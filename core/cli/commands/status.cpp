// `ccmux status` (the daemon, its sessions and what they cost) and `ccmux plugins`.
#include "commands.h"

#include <cstdio>
#include <iostream>

namespace ccmux::cli {

using nlohmann::json;

namespace {

std::string megabytes(int64_t bytes) {
  char buf[32];
  snprintf(buf, sizeof buf, bytes >= (10LL << 30) ? "%.0f GB" : bytes >= (1LL << 30) ? "%.1f GB" : "%.1f MB",
           bytes >= (1LL << 30) ? static_cast<double>(bytes) / (1 << 30) : static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// One line per part.
void print_status(const json& st) {
  int64_t up = st.value("uptime_s", int64_t{0});
  printf("ccmuxd     %s (protocol %d), pid %lld, up %lldh %02lldm, config %s\n", st.value("version", "").c_str(),
         st.value("protocol", 0), static_cast<long long>(st.value("pid", 0)), static_cast<long long>(up / 3600),
         static_cast<long long>(up / 60 % 60), st.value("config", "").c_str());
  int64_t total = 0;
  std::string by_state;
  const json sessions = st.value("sessions", json::object());  // items() must not outlive it
  for (auto& [state, n] : sessions.items()) {
    total += n.get<int64_t>();
    by_state += (by_state.empty() ? ": " : ", ") + std::to_string(n.get<int64_t>()) + " " + state;
  }
  printf("sessions   %lld%s\n", static_cast<long long>(total), by_state.c_str());
  json eco = st.value("economy", json::object());
  json warm = eco.value("warm_pool", json::object());
  printf("claude     %lld live of max_live %lld (%s), %lld waiting for a slot, warm pool %zu/%lld\n",
         static_cast<long long>(st.value("live_processes", 0)), static_cast<long long>(eco.value("max_live", 0)),
         megabytes(st.value("claude_rss_bytes", int64_t{0})).c_str(), static_cast<long long>(eco.value("waiting_for_slot", 0)),
         warm.value("processes", json::array()).size(), static_cast<long long>(warm.value("capacity", 0)));
  printf("daemon     %s resident, %lld clients\n", megabytes(st.value("daemon_rss_bytes", int64_t{0})).c_str(),
         static_cast<long long>(st.value("clients", 0)));
  json ap = st.value("approvals", json::object());
  printf("approvals  %lld pending; %lld allowed, %lld denied, %lld cancelled\n",
         static_cast<long long>(st.value("pending_approvals", 0)), static_cast<long long>(ap.value("allow", 0)),
         static_cast<long long>(ap.value("deny", 0)), static_cast<long long>(ap.value("cancelled", 0)));
  printf("usage      $%.4f, %lld tokens in / %lld out, %lld turns, %lld events\n", st.value("cost_usd", 0.0),
         static_cast<long long>(st.value("input_tokens", 0)), static_cast<long long>(st.value("output_tokens", 0)),
         static_cast<long long>(st.value("turns", 0)), static_cast<long long>(st.value("events", 0)));
}

}  // namespace

void add_status_commands(Commands& c) {
  const Context& ctx = c.ctx();
  c.add(nullptr, "plugins", "list loaded plugins", [&ctx] {
    json list = ctx.connect()->request("plugins.list")["plugins"];
    for (auto& p : list)
      std::cout << p.value("name", "") << "\t" << p.value("state", "") << "\t" << p.value("version", "") << "\t"
                << p.value("error", p.value("path", "")) << "\n";
    return 0;
  });
  auto json_out = std::make_shared<bool>(false);
  auto* status = c.add(nullptr, "status", "daemon status and totals", [json_out, &ctx] {
    json st = ctx.connect()->request("status");
    if (*json_out) std::cout << st.dump(2) << "\n";
    else print_status(st);
    return 0;
  });
  status->add_flag("--json", *json_out, "print the status object as JSON");
}

}  // namespace ccmux::cli
