// ccmuxd configuration: YAML file + built-in defaults + CCMUX_* environment overrides.
//
// Environment rule (one for all scalar keys): CCMUX_<SECTION>_<KEY>, upper case,
// e.g. CCMUX_CLAUDE_PATH -> claude.path, CCMUX_DAEMON_SOCKET -> daemon.socket,
// CCMUX_APPROVAL_TIMEOUT -> approval.timeout. List keys take ':'-separated values
// (CCMUX_PROJECTS_ROOTS=/a:/b). Environment beats the file; the file beats defaults.
#pragma once

#include "config/config_schema.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

namespace ccmux {

struct PluginEntry {
  std::string name;
  std::string path;        // explicit library path, or
  std::string search_dir;  // a folder holding lib<name>.so / ccmux-<name>.so
  bool enabled = true;
  bool required = false;
  YAML::Node node;         // the whole entry, for the plugin's own keys (marks kept)
  std::string file;        // config file it came from, for messages
};

struct Config {
  std::string source;  // file read, or "" for built-in defaults

  // daemon
  std::string state_dir;
  std::string socket_path;
  std::string log_level = "info";

  // claude
  std::string claude_path;  // empty: CCMUX_CLAUDE_PATH, then PATH
  std::vector<std::string> claude_extra_args;
  std::map<std::string, std::string> claude_env;
  std::string model;
  double idle_timeout_s = 600;  // no output while a turn runs for this long = hung
  // No answer to initialize this long after a start = a failed start (killed, counted as a crash);
  // 0 = never. Far above claude's cold start (~1 s idle, ~11 s measured with 4 starts at once on 2
  // busy cores) and its SessionStart hooks (claude answers initialize only after they ran).
  double start_timeout_s = 120;
  double stop_grace_s = 5;      // after stdin EOF, before SIGTERM/SIGKILL
  // Session economy: one claude holds ~300 MB, so idle ones are parked and the count is bounded.
  double park_after_s = 600;        // idle this long (no turn, no approval): stop claude, state parked; 0 = never
  int64_t max_live = 0;             // live claude processes at most; 0 = from RAM (total - reserve) / 350 MB
  int64_t warm_pool = 1;            // pre-spawned claude processes for recent projects; 0 = off
  double warm_pool_idle_s = 3600;   // no session started for this long: the pool empties until the next one
  int64_t memory_reserve_mb = 1024; // the pool empties when available memory falls under this
  double restart_backoff_s = 0.5;   // first restart delay after a crash, doubling per crash ...
  double restart_backoff_max_s = 30;  // ... up to this
  int64_t crash_limit = 5;          // crashes within crash_window before giving up (state failed)
  double crash_window_s = 300;
  // Events over this are stored and sent cut, whole in a file (docs/protocol.md): every
  // stored event then fits every client, so a replay always works.
  int64_t max_event_bytes = 8 << 20;
  // Sessions outlive ccmuxd (issue 13): each claude runs under a ccmux-shim holder; a stop or
  // restart of ccmuxd leaves them running and the next ccmuxd adopts them.
  bool hold = true;
  std::string shim_path;  // empty: ccmux-shim beside ccmuxd

  // projects
  std::vector<std::string> project_roots;

  // approval
  double approval_timeout_s = 3600;
  std::string on_timeout = "deny";
  std::vector<std::string> policies;  // script paths; "builtin:default" is scripts/default.lua
  int64_t lua_memory_mb = 32;
  int64_t lua_instructions = 1000000;
  int64_t lua_timeout_ms = 1000;  // wall clock per load/decide() in the policy worker

  // worktrees (issue 15): where `session.new {worktree}` puts them, as <dir>/<repo name>/NAME;
  // "" = <repo>/../.ccmux-worktrees. Absolute (or ~) when set.
  std::string worktrees_dir;

  std::vector<PluginEntry> plugins;
};

// Loads `path` (must exist when given explicitly), or the default file when `path`
// is empty (built-in defaults if that file is absent). Throws ConfigError.
Config load_config(const std::string& path, bool explicit_path);
// Parses YAML text (for tests); `name` is used in messages.
Config parse_config(const std::string& yaml_text, const std::string& name);

// The core's sections (daemon, claude, projects, approval) in the schema plugins' keys use too.
const std::vector<SectionSchema>& core_schema();
// A `plugins:` entry's own keys (name, path, search_dir, enabled, required); the rest are the plugin's.
const SectionSchema& plugin_entry_schema();

// The claude binary: config, then $CCMUX_CLAUDE_PATH, then PATH. Throws ConfigError naming all three.
std::string resolve_claude_path(const Config& cfg);

}  // namespace ccmux
