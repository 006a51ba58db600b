#include "hook_command.h"

#include "hook_files.h"
#include "hook_settings.h"
#include "sha256.h"

#include <ccmux/client/connection.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <optional>

namespace ccmux::cli {

using nlohmann::json;

namespace {

std::string backup_path(const HooksOptions& o) { return o.settings_path + ".ccmux-backup"; }
std::string state_path(const HooksOptions& o) { return o.settings_path + ".ccmux-state"; }

// What the first install recorded beside the settings (ours; a damaged one counts as absent).
struct InstallState {
  bool valid = false;
  bool existed = false;          // there was a settings file before the first install
  std::string installed_sha256;  // the file as install left it
  std::string backup_sha256;     // the pre-install bytes kept in the backup (older states lack it)
};

InstallState read_state(const HooksOptions& o) {
  InstallState s;
  try {
    FileRead f = read_file_at(state_path(o), false);
    json j = json::parse(f.text, nullptr, false);
    if (!f.exists || !j.is_object()) return s;
    auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
    s.existed = j.contains("existed") && j["existed"].is_boolean() && j["existed"].get<bool>();
    s.installed_sha256 = str("installed_sha256");
    s.backup_sha256 = str("backup_sha256");
    s.valid = !s.installed_sha256.empty();
  } catch (const std::exception&) {
  }
  return s;
}

std::optional<FilePerms> perms_of(const FileRead& f) { return f.exists ? std::optional<FilePerms>(f.perms) : std::nullopt; }

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw std::runtime_error(path + ": " + why + "; fix it first (nothing was changed)");
}

void warn_hard_links(const FileRead& f) {
  if (f.links > 1)
    std::cerr << "ccmux hooks: note: " << f.target << " had " << f.links
              << " hard links; the other names keep the previous content\n";
}

// Puts the files install touched back as they were when a later step fails.
class Undo {
 public:
  void save(const std::string& path) {
    FileRead before;
    try {
      before = read_file_at(path, false);
    } catch (const std::exception&) {
      before.exists = false;
    }
    saved_.push_back({path, before});
  }
  void run() noexcept {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) try {
        if (it->second.exists) replace_file(it->first, it->second.text, it->second.perms);
        else remove_file(it->first);
      } catch (const std::exception& e) {
        std::cerr << "ccmux hooks: could not undo " << it->first << ": " << e.what() << "\n";
      }
  }

 private:
  std::vector<std::pair<std::string, FileRead>> saved_;
};

std::string shell_quote(const std::string& s) {
  if (s.find_first_of(" '\"\\$`") == std::string::npos) return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

}  // namespace

int hooks_install(const HooksOptions& o) {
  FileRead f = read_file_at(o.settings_path, true);
  HookCommands cmds;
  // The lean ccmux-hook beside ccmux when there is one (it starts ~3x faster), else `ccmux hook`.
  cmds.exe = o.hook_path.empty() ? shell_quote(o.ccmux_path) + " hook" : shell_quote(o.hook_path);
  cmds.wait_s = static_cast<int>(o.wait_s);
  SettingsEdit edit = add_ccmux_hooks(f.text, cmds);
  if (!edit.ok) refuse(f.target, edit.error);
  if (!edit.changed) {
    std::cout << "ccmux hooks already installed in " << o.settings_path << "\n";
    return 0;
  }
  // The first install keeps the original bytes; uninstall puts them back when nothing else changed.
  InstallState old = read_state(o);
  bool first = !old.valid;
  json state = {{"existed", first ? f.exists : old.existed},
                {"installed_sha256", sha256_hex(edit.text)},
                {"backup_sha256", first ? (f.exists ? sha256_hex(f.text) : "") : old.backup_sha256}};
  Undo undo;
  try {
    // The backup holds the same bytes as the settings: never more readable than they are.
    if (first && f.exists) {
      undo.save(backup_path(o));
      replace_file(backup_path(o), f.text, f.perms);
    }
    undo.save(state_path(o));
    replace_file(state_path(o), state.dump() + "\n", perms_of(f));
    replace_file(f.target, edit.text, perms_of(f));  // through a symlink: its target, the link stays
  } catch (const std::exception&) {
    undo.run();
    throw;
  }
  warn_hard_links(f);
  std::cout << "installed ccmux hooks in " << o.settings_path << " (" << std::size(kHookEvents) << " events";
  if (f.exists) std::cout << "; original kept in " << backup_path(o);
  std::cout << ")\n";
  return 0;
}

int hooks_uninstall(const HooksOptions& o) {
  FileRead f = read_file_at(o.settings_path, true);
  if (!f.exists) {
    std::cout << "no " << o.settings_path << "\n";
    return 0;
  }
  InstallState state = read_state(o);
  bool untouched = state.valid && state.installed_sha256 == sha256_hex(f.text);
  std::string note;
  if (untouched && !state.existed && f.target == o.settings_path) {
    // Nothing changed since install created it: it goes away again.
    remove_file(o.settings_path);
    remove_file(state_path(o));
    std::cout << "removed ccmux hooks; " << o.settings_path << " is gone again, as before install\n";
    return 0;
  }
  if (untouched && state.existed) {
    // Nothing changed since install: the file goes back to exactly what it was, if the backup
    // is still the one install wrote (else only our entries go, below).
    std::optional<FileRead> backup;
    try {
      backup = read_file_at(backup_path(o), false);
    } catch (const std::exception& e) {
      note = e.what();
    }
    bool good = backup && backup->exists &&
                (state.backup_sha256.empty() ? remove_ccmux_hooks(backup->text).ok && !backup->text.empty()
                                             : sha256_hex(backup->text) == state.backup_sha256);
    if (good) {
      replace_file(f.target, backup->text, f.perms);
      remove_file(backup_path(o));
      remove_file(state_path(o));
      warn_hard_links(f);
      std::cout << "removed ccmux hooks; " << o.settings_path << " is as it was before install\n";
      return 0;
    }
    if (note.empty())
      note = backup_path(o) + (backup && backup->exists ? " is not the copy install made" : " is gone");
  }
  SettingsEdit edit = remove_ccmux_hooks(f.text);
  if (!edit.ok) refuse(f.target, edit.error);
  if (!edit.changed) {
    std::cout << "no ccmux hooks in " << o.settings_path << "\n";
    return 0;
  }
  replace_file(f.target, edit.text, f.perms);
  remove_file(state_path(o));
  warn_hard_links(f);
  std::cout << "removed ccmux hooks from " << o.settings_path;
  if (!note.empty()) std::cout << " (only ccmux's entries: " << note << ")\n";
  else {
    std::cout << " (your other changes kept";
    std::error_code ec;
    if (std::filesystem::exists(backup_path(o), ec)) std::cout << "; the pre-install copy stays in " << backup_path(o);
    std::cout << ")\n";
  }
  return 0;
}

int hooks_status(const HooksOptions& o, const std::string& socket_path) {
  FileRead f = read_file_at(o.settings_path, true);
  HooksFound found = find_ccmux_hooks(f.text);
  if (!found.ok) refuse(f.target, found.error);
  for (const char* ev : kHookEvents) {
    bool here = std::find(found.events.begin(), found.events.end(), ev) != found.events.end();
    std::cout << (here ? "installed  " : "missing    ") << ev << "\n";
  }
  for (const std::string& ev : found.stray)
    std::cout << "stray      " << ev << " (a ccmux hook under an event ccmux does not install; "
              << "`ccmux hooks install` or `uninstall` removes it)\n";
  bool up = true;
  try {
    client::Connection c(socket_path);
  } catch (const std::exception&) {
    up = false;
  }
  std::cout << found.events.size() << "/" << std::size(kHookEvents) << " hooks in " << o.settings_path << "; ccmuxd "
            << (up ? "reachable at " + socket_path : "not running (hooks stay out of claude's way)") << "\n";
  return found.events.size() == std::size(kHookEvents) && found.stray.empty() ? 0 : 1;
}

}  // namespace ccmux::cli
