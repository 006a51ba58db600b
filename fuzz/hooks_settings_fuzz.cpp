// Boundary: the user's Claude Code settings.json, rewritten by `ccmux hooks install` and
// `uninstall`. The input is the file's bytes. What the README promises must hold for any
// file, else the target aborts with what broke. It calls the pure settings edits
// (hook_settings.h: add/remove/find ccmux hooks on text): an edit is refused with an error
// or installs all hooks (and leaves no ccmux hook under another event); adding again changes
// nothing; removing leaves no ccmux hook, under any event, and the
// user's own content as it was. (The file handling around them, modes, symlinks and
// temporaries, is covered by the hooks tests.)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>

namespace {
[[noreturn]] void broken(const char* what, const std::string& original) {
  std::fprintf(stderr, "hooks settings: %s\noriginal settings.json (%zu bytes): %.400s\n", what, original.size(),
               original.c_str());
  std::abort();
}
}  // namespace

#include "hook_settings.h"

#include <nlohmann/json.hpp>

using namespace ccmux::cli;
using ojson = nlohmann::ordered_json;

namespace {
// The user's content, to compare: parsed, without empty event lists and a "hooks" object
// left empty (Claude Code reads both as absent; uninstall drops the ones it empties, so a
// user's own `"Stop": []` that install filled goes too).
ojson content(const std::string& text) {
  if (text.empty()) return ojson::object();
  ojson j = ojson::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("hooks") || !j["hooks"].is_object()) return j;
  ojson& hooks = j["hooks"];
  for (auto ev = hooks.begin(); ev != hooks.end();)
    ev = ev->is_array() && ev->empty() ? hooks.erase(ev) : std::next(ev);
  if (hooks.empty()) j.erase("hooks");
  return j;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string original(reinterpret_cast<const char*>(data), size);
  const HookCommands cmds{"/usr/local/bin/ccmux-hook", 30};
  SettingsEdit added = add_ccmux_hooks(original, cmds);
  HooksFound before = find_ccmux_hooks(original);
  SettingsEdit removed_before = remove_ccmux_hooks(original);
  if (!added.ok) {
    if (added.error.empty()) broken("a refused edit gave no reason", original);
    return 0;
  }
  const std::string& installed = added.changed ? added.text : original;
  HooksFound found = find_ccmux_hooks(installed);
  if (!found.ok || found.events.size() != std::size(kHookEvents)) broken("install did not install every hook", original);
  if (!found.stray.empty()) broken("install left a ccmux hook under an event it does not install", original);
  SettingsEdit again = add_ccmux_hooks(installed, cmds);
  if (!again.ok || again.changed) broken("a second install changed the file", original);
  SettingsEdit removed = remove_ccmux_hooks(installed);
  if (!removed.ok) broken("uninstall refused what install wrote", original);
  const std::string& after = removed.changed ? removed.text : installed;
  HooksFound left = find_ccmux_hooks(after);
  if (!left.ok || !left.events.empty() || !left.stray.empty()) broken("uninstall left ccmux hooks behind", original);
  // The user's content survives install + uninstall (compared with the original minus
  // whatever ccmux hooks it already had).
  if (before.ok && removed_before.ok) {
    const std::string& user = removed_before.changed ? removed_before.text : original;
    if (content(after) != content(user)) broken("install + uninstall changed the user's own settings", original);
  }
  return 0;
}
