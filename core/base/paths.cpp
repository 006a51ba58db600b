#include "paths.h"

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#ifndef CCMUX_BINDIR_REL
#define CCMUX_BINDIR_REL "bin"
#endif

namespace ccmux {
namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}
std::string home() { return env_or("HOME", "/"); }

std::string runtime_dir() {
  const char* v = std::getenv("XDG_RUNTIME_DIR");
  if (v && *v) return v;
  std::string per_user = "/run/user/" + std::to_string(getuid());
  if (std::filesystem::is_directory(per_user)) return per_user;
  // No login session (e.g. a root shell over ssh without pam_systemd): a private dir under /tmp.
  return "/tmp/ccmux-" + std::to_string(getuid());
}
}  // namespace

bool system_mode() { return env_or("CCMUX_SYSTEM", "") == "1"; }

std::string default_config_path() {
  if (system_mode()) return "/etc/ccmux/config.yaml";
  return env_or("XDG_CONFIG_HOME", home() + "/.config") + "/ccmux/config.yaml";
}

std::string default_state_dir() {
  if (system_mode()) return "/var/lib/ccmux";
  return env_or("XDG_STATE_HOME", home() + "/.local/state") + "/ccmux";
}

std::string default_socket_path() {
  if (system_mode()) return "/run/ccmux/ccmuxd.sock";
  return runtime_dir() + "/ccmux/ccmuxd.sock";
}

std::string find_daemon_socket() {
  const char* v = std::getenv("CCMUX_DAEMON_SOCKET");
  if (v && *v) return v;
  std::string user = default_socket_path();
  if (std::filesystem::exists(user)) return user;
  if (std::filesystem::exists("/run/ccmux/ccmuxd.sock")) return "/run/ccmux/ccmuxd.sock";
  return user;
}

std::string self_exe() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::canonical("/proc/self/exe", ec);
  return ec ? "" : exe.string();
}

std::string beside_self(const std::string& name) {
  std::string exe = self_exe();
  return exe.empty() ? "" : (std::filesystem::path(exe).parent_path() / name).string();
}

std::string self_install_prefix() {
  std::string exe = self_exe();
  if (exe.empty()) return "";
  std::filesystem::path dir = std::filesystem::path(exe).parent_path();
  for (auto rel = std::filesystem::path(CCMUX_BINDIR_REL).lexically_normal(); !rel.empty(); rel = rel.parent_path()) {
    if (rel.filename() != dir.filename()) return "";
    dir = dir.parent_path();
    if (rel.parent_path() == rel) break;
  }
  return dir.string();
}

}  // namespace ccmux
