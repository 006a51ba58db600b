// The settings.json edits behind `ccmux hooks install|uninstall|status`, as pure functions:
// text in, text (or an error) out, no files. They never throw for any input (bar bad_alloc),
// so the fuzz target for settings.json calls them directly.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ccmux::cli {

// The events ccmux listens to (install order).
extern const char* const kHookEvents[7];

struct HookCommands {
  std::string exe;  // shell-ready command that runs the hook: `/usr/bin/ccmux-hook`, `'/a b/ccmux' hook`
  int wait_s = 30;  // how long a PermissionRequest waits for an answer from elsewhere
};

struct SettingsEdit {
  bool ok = false;       // false: `error` says why, and nothing may be written
  bool changed = false;  // ok and the text differs from the input (only then is `text` set)
  std::string text;      // the new file (2-space indented JSON, trailing newline)
  std::string error;     // e.g. "not valid JSON: parse error at line 3, column 5: ..."
};

// Adds ccmux's hooks (replacing older ccmux entries, under any event, so it is idempotent and
// leaves no stray one behind); the user's keys,
// their order and their own hooks stay. Empty text is an empty settings object.
SettingsEdit add_ccmux_hooks(std::string_view settings_text, const HookCommands& cmds);
// Removes every ccmux hook, under any event, and groups and events that held only ours (an
// event list left empty goes: Claude Code reads it as absent); nothing else.
SettingsEdit remove_ccmux_hooks(std::string_view settings_text);

struct HooksFound {
  bool ok = false;
  std::string error;
  std::vector<std::string> events;  // the kHookEvents that have a ccmux hook
  // Other events that hold a ccmux hook (e.g. a misspelt "PreT.oolUse": Claude Code never
  // runs it); install and uninstall both remove them.
  std::vector<std::string> stray;
  std::vector<std::string> commands;  // the distinct commands of those hooks, in file order
};
HooksFound find_ccmux_hooks(std::string_view settings_text);

// The program a hook command runs: its first shell word, unquoted ('a b'/ccmux' hook ->
// /a b/ccmux; /usr/bin/ccmux-hook --wait 30 -> /usr/bin/ccmux-hook). Commands install writes
// quote with single quotes and \' (shell_quote); double quotes are taken literally.
std::string hook_program(std::string_view command);

// Deeper JSON is refused: nlohmann copies, compares and dumps recursively (a 100k-deep
// array overflows the stack), and Claude Code's settings are a few levels deep.
constexpr int kMaxSettingsDepth = 128;

}  // namespace ccmux::cli
