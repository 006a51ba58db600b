// `ccmux doctor`: checks what a user gets wrong (claude, Node, the daemon, config, plugins,
// certificates, tokens, hooks, the service, the store, memory) and says how to fix each.
// The checks (doctor_*.cpp) produce findings; doctor_render.cpp prints them.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ccmux::cli {

// ok: fine. note: worth knowing, nothing to do. warning: works, but look at it.
// problem: something does not work; `ccmux doctor` exits 1 when there is one.
enum class Level { ok, note, warning, problem };
const char* level_name(Level l);

struct Finding {
  std::string check;    // "claude", "node", "daemon", ... (one word)
  Level level = Level::ok;
  std::string message;  // one line: what was found
  std::string fix;      // the command (with a few words) that fixes it; empty when none is needed
};

struct DoctorOptions {
  std::string config_path;      // empty: where ccmuxd looks by default
  std::string socket_path;      // the socket the CLI uses
  std::string home;             // $HOME: ~/.claude/settings.json
  std::string bin_dir;          // the folder ccmux runs from (ccmuxd, ccmux-hook, ccmux-install-claude beside it)
  std::string pinned_claude;    // the claude version ccmux is tested against
};

std::vector<Finding> run_doctor(const DoctorOptions& o);
// `ccmux doctor [--config FILE] [--json]`: runs the checks for this user and this ccmux,
// prints them, returns the exit code.
int doctor_command(const std::string& config_path, const std::string& socket_path, bool json);
// Exit code: 0 when no finding is a problem (warnings and notes do not fail), else 1.
int doctor_exit_code(const std::vector<Finding>& f);
// One line per finding (and its fix), then a summary line.
std::string render_text(const std::vector<Finding>& f);
nlohmann::json render_json(const std::vector<Finding>& f);

}  // namespace ccmux::cli
