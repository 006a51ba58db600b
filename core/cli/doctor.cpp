// `ccmux doctor`: runs the checks in the order they depend on each other (the config first:
// it says where claude, the socket and the store are; then what the daemon says).
#include "doctor.h"

#include "doctor_checks.h"
#include "paths.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace ccmux::cli {

namespace {
// A check that throws (a bug, an unexpected file) must not hide the others.
template <class F>
void guarded(std::vector<Finding>& out, const char* check, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    out.push_back({check, Level::warning, std::string("could not check: ") + e.what(), ""});
  }
}
}  // namespace

std::vector<Finding> run_doctor(const DoctorOptions& o) {
  std::vector<Finding> out;
  ConfigCheck cfg;
  cfg.config = parse_config("", "");
  guarded(out, "config", [&] { cfg = check_config(o.config_path, !o.config_path.empty(), o.bin_dir); });
  const Config& c = cfg.config;

  guarded(out, "claude", [&] {
    for (auto& f : check_claude(c, o.pinned_claude, claude_installer(o.bin_dir))) out.push_back(f);
  });
  DaemonInfo daemon;
  guarded(out, "daemon", [&] { out.push_back(check_daemon(o.socket_path, c, daemon)); });
  out.insert(out.end(), cfg.findings.begin(), cfg.findings.end());
  if (daemon.reachable) {
    std::string ran_with = daemon.status.value("config", "");
    if (ran_with != "(built-in defaults)" && !ran_with.empty() && ran_with != cfg.path)
      out.push_back({"config", Level::note, "the running ccmuxd read " + ran_with + "; this check read " + cfg.path,
                     "ccmux doctor --config " + ran_with});
  }
  guarded(out, "plugins", [&] {
    for (auto& f : check_plugins(c, daemon)) out.push_back(f);
  });
  // ccmux certs init writes tls/ beside the config file.
  std::string cert_dir = std::filesystem::path(cfg.path).parent_path().string() + "/tls";
  guarded(out, "certs", [&] {
    for (auto& f : check_certs(c, cert_dir, time(nullptr))) out.push_back(f);
  });
  std::string state_dir = daemon.reachable ? daemon.status.value("state_dir", c.state_dir) : c.state_dir;
  std::string db = state_dir + "/ccmux.db";
  guarded(out, "tokens", [&] { out.push_back(check_tokens(daemon, db)); });
  guarded(out, "hooks", [&] { out.push_back(check_hooks(o.home + "/.claude/settings.json")); });
  guarded(out, "service", [&] { out.push_back(check_service(daemon.reachable)); });
  guarded(out, "store", [&] { out.push_back(check_store(db)); });
  guarded(out, "memory", [&] { out.push_back(check_memory(c, daemon)); });
  return out;
}

int doctor_command(const std::string& config_path, const std::string& socket_path, bool json) {
  DoctorOptions o;
  o.config_path = config_path;
  o.socket_path = socket_path;
  const char* home = std::getenv("HOME");
  o.home = home ? home : "";
  o.bin_dir = std::filesystem::path(self_exe()).parent_path().string();
  o.pinned_claude = CCMUX_PINNED_CLAUDE_VERSION;  // packaging/npm-tools.sh, read by CMake
  std::vector<Finding> findings = run_doctor(o);
  if (json) std::cout << render_json(findings).dump(2) << "\n";
  else std::cout << render_text(findings);
  return doctor_exit_code(findings);
}

int doctor_exit_code(const std::vector<Finding>& f) {
  for (auto& x : f)
    if (x.level == Level::problem) return 1;
  return 0;
}

}  // namespace ccmux::cli
