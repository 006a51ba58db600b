// The checks of `ccmux doctor`, each on plain inputs so that the order and the data they
// share (the config, what the daemon said) stay in doctor.cpp.
#pragma once

#include "config/config.h"
#include "doctor.h"

#include <nlohmann/json.hpp>

#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace ccmux::cli {

// What a reachable ccmuxd said (status, plugins.list, token.list).
struct DaemonInfo {
  bool reachable = false;
  std::string socket;
  nlohmann::json status = nlohmann::json::object();
  nlohmann::json plugins = nlohmann::json::array();
  nlohmann::json tokens = nlohmann::json::array();
  bool tokens_known = false;
};

// The command that installs the pinned claude: ccmux-install-claude on PATH or beside ccmux,
// else the script in the source tree.
std::string claude_installer(const std::string& bin_dir);
// systemd runs here (PID 1), and systemctl is there to ask it.
bool systemd_running();

// doctor_config.cpp: the config as ccmuxd would read it (built-in defaults when it is broken,
// so the other checks still run), then its policies and plugin keys by `ccmuxd --check-config`.
struct ConfigCheck {
  Config config;
  std::string path;
  std::vector<Finding> findings;
};
ConfigCheck check_config(const std::string& path, bool explicit_path, const std::string& bin_dir);

// doctor_claude.cpp: "claude" (found as ccmuxd finds it; its version) and "node" (what it
// needs to run: nothing for the native executable, engines.node for an npm script).
std::vector<Finding> check_claude(const Config& cfg, const std::string& pinned, const std::string& installer);
// ">=22", ">= 18.0.0": is `node_version` ("v20.1.0") at least that? nullopt: not understood.
std::optional<bool> node_satisfies(const std::string& node_version, const std::string& engines);

// doctor_daemon.cpp: "daemon", "plugins", "tokens".
Finding check_daemon(const std::string& socket, const Config& cfg, DaemonInfo& info);
std::vector<Finding> check_plugins(const Config& cfg, const DaemonInfo& info);
Finding check_tokens(const DaemonInfo& info, const std::string& db_path);

// doctor_files.cpp: "certs", "hooks", "store".
// The certificate files to look at: ca.crt and server.crt in `default_dir` (where `ccmux
// certs init` writes) and every tls_cert/tls_ca a plugin is configured with.
std::vector<Finding> check_certs(const Config& cfg, const std::string& default_dir, time_t now);
Finding check_hooks(const std::string& settings_path);
Finding check_store(const std::string& db_path);

// doctor_system.cpp: "service", "memory".
Finding check_service(bool daemon_up);
Finding check_memory(const Config& cfg, const DaemonInfo& info);

}  // namespace ccmux::cli
