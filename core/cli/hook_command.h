// `ccmux hook` (run by Claude Code as a hook) and `ccmux hooks install|uninstall|status`.
#pragma once

#include <string>

namespace ccmux::cli {

// Reads the hook JSON on stdin, asks ccmuxd (hook.event), prints claude's hook output.
// Never in the way: when ccmuxd is unreachable or anything fails it prints nothing, exits 0.
int hook_command(const std::string& socket_path, double wait_s);

struct HooksOptions {
  std::string settings_path;  // ~/.claude/settings.json or <project>/.claude/settings.json
  std::string ccmux_path;     // absolute path of this ccmux binary, written into the hooks ...
  std::string hook_path;      // ... or of ccmux-hook when it is installed beside it (preferred)
  double wait_s = 30;         // how long PermissionRequest waits for an answer from elsewhere
};
int hooks_install(const HooksOptions& o);
int hooks_uninstall(const HooksOptions& o);
int hooks_status(const HooksOptions& o, const std::string& socket_path);

}  // namespace ccmux::cli
