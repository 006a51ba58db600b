// `ccmux doctor`: the machine: systemd's view of the ccmuxd service, and memory for claude.
#include "doctor_checks.h"
#include "paths.h"
#include "run_program.h"
#include "util.h"

#include <filesystem>
#include <unistd.h>

namespace ccmux::cli {

namespace {
constexpr int64_t kClaudeBytes = 350LL << 20;  // what one claude holds (as the economy counts it)

std::string mb(int64_t bytes) { return std::to_string(bytes >> 20) + " MB"; }

// `systemctl [--user] is-enabled ccmuxd`: "enabled", "disabled", "not-found", ... or "" when
// systemctl could not ask (no user manager, no bus).
std::string unit_state(bool user) {
  std::vector<std::string> argv = {"systemctl"};
  if (user) argv.push_back("--user");
  argv.insert(argv.end(), {"is-enabled", "ccmuxd"});
  ProgramRun r = run_program(argv, 10);
  std::string state = first_line(r.output);
  for (const char* known : {"enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "masked",
                            "masked-runtime", "static", "indirect", "disabled", "generated", "transient"})
    if (state == known) return state;
  if (state.find("No such file") != std::string::npos || state.find("not-found") != std::string::npos) return "not-found";
  return "";
}
}  // namespace

std::string claude_installer(const std::string& bin_dir) {
  std::string on_path = find_on_path("ccmux-install-claude");
  if (!on_path.empty()) return "ccmux-install-claude";
  std::string beside = bin_dir + "/ccmux-install-claude";
  if (access(beside.c_str(), X_OK) == 0) return beside;
  return "cd <the ccmux source tree> && bash packaging/ccmux-install-claude";
}

bool systemd_running() {
  std::error_code ec;
  return std::filesystem::is_directory("/run/systemd/system", ec) && !find_on_path("systemctl").empty();
}

Finding check_service(bool daemon_up) {
  Finding f{"service", Level::note, "", ""};
  if (find_on_path("systemctl").empty()) {
    f.message = "not checked: no systemctl here";
    return f;
  }
  if (!systemd_running()) {
    f.message = "not checked: systemd is not running here";
    return f;
  }
  std::string user = unit_state(true), system = unit_state(false);
  if (user.rfind("enabled", 0) == 0 || system.rfind("enabled", 0) == 0) {
    f.level = Level::ok;
    f.message = std::string("ccmuxd.service enabled (") + (user.rfind("enabled", 0) == 0 ? "user" : "system") + ")";
    return f;
  }
  std::string states = "user unit " + (user.empty() ? std::string("unknown (no user manager)") : user) + ", system unit " +
                       (system.empty() ? std::string("unknown") : system);
  f.message = (daemon_up ? "ccmuxd runs, but not as an enabled service (" : "ccmuxd is not an enabled service (") + states +
              "): it will not start again after a reboot";
  f.fix = std::string("ccmux service install ") + (system_mode() ? "--system" : "--user");
  return f;
}

Finding check_memory(const Config& cfg, const DaemonInfo& info) {
  Finding f{"memory", Level::ok, "", ""};
  MemInfo m = read_meminfo();
  if (m.available <= 0) {
    f.level = Level::note;
    f.message = "not checked: no MemAvailable in /proc/meminfo";
    return f;
  }
  // The limit ccmuxd works with: what it says, else what it would compute from this config.
  int64_t max_live = 0;
  bool configured = cfg.max_live > 0;
  if (info.reachable) max_live = info.status.value("economy", nlohmann::json::object()).value("max_live", int64_t{0});
  if (max_live <= 0)
    max_live = configured ? cfg.max_live
                          : (m.total <= 0 ? 8 : std::max<int64_t>(1, (m.total - (cfg.memory_reserve_mb << 20)) / kClaudeBytes));
  // Live claude processes already hold their share of memory.
  int64_t held = info.reachable ? info.status.value("claude_rss_bytes", int64_t{0}) : 0;
  int64_t fits = (m.available + held) / kClaudeBytes;
  std::string have = "MemAvailable " + mb(m.available) + (held ? " + " + mb(held) + " held by live claude" : "");
  std::string source = configured ? "claude.max_live" : "max_live (from RAM)";
  if (fits >= max_live) {
    f.message = have + ": room for " + std::to_string(fits) + " claude processes (~350 MB each), " + source + " " +
                std::to_string(max_live);
  } else if (fits < 1) {
    f.level = Level::problem;
    f.message = have + ": not even one claude (~350 MB) fits";
    f.fix = "free memory (or add swap); ccmuxd parks idle sessions, and a lower claude.max_live keeps fewer alive";
  } else {
    f.level = configured ? Level::warning : Level::note;
    f.message = have + ": room for ~" + std::to_string(fits) + " claude processes, but " + source + " is " +
                std::to_string(max_live) + " (past " + std::to_string(fits) + " the machine swaps)";
    f.fix = "set claude.max_live: " + std::to_string(fits) + " in " + (cfg.source.empty() ? default_config_path() : cfg.source);
  }
  return f;
}

}  // namespace ccmux::cli
