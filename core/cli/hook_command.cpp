#include "hook_command.h"

#include "client.h"
#include "tokens.h"  // sha256_hex

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>

namespace ccmux::cli {

namespace fs = std::filesystem;
using nlohmann::json;
using ojson = nlohmann::ordered_json;  // keeps the user's key order when we rewrite the file

namespace {

// The events ccmux listens to; tool events take a matcher.
struct HookEvent {
  const char* name;
  bool tool;
};
const HookEvent kEvents[] = {{"PreToolUse", true},    {"PermissionRequest", true}, {"UserPromptSubmit", false},
                             {"Notification", false}, {"Stop", false},             {"SessionStart", false},
                             {"SessionEnd", false}};

bool is_ours(const ojson& hook) {
  static const std::regex ours(R"((^|/)ccmux(-hook| hook)'?( |$))");  // ccmux-hook, or `ccmux hook`
  return hook.is_object() && hook.contains("command") && hook["command"].is_string() &&
         std::regex_search(hook["command"].get<std::string>(), ours);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::string tmp = path + ".ccmux-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, path);  // never a half-written settings file
}

std::string backup_path(const HooksOptions& o) { return o.settings_path + ".ccmux-backup"; }
std::string state_path(const HooksOptions& o) { return o.settings_path + ".ccmux-state"; }

ojson load_settings(const std::string& path, const std::string& text) {
  if (text.empty()) return ojson::object();
  ojson j = ojson::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw std::runtime_error(path + " is not a JSON object; fix it first (nothing was changed)");
  return j;
}

// Removes every ccmux hook; drops groups and events that only held ours.
bool strip_ours(ojson& settings) {
  if (!settings.contains("hooks") || !settings["hooks"].is_object()) return false;
  bool changed = false;
  ojson& hooks = settings["hooks"];
  for (auto ev = hooks.begin(); ev != hooks.end();) {
    if (!ev->is_array()) {
      ++ev;
      continue;
    }
    ojson kept = ojson::array();
    for (auto& group : *ev) {
      if (!group.is_object() || !group.contains("hooks") || !group["hooks"].is_array()) {
        kept.push_back(group);
        continue;
      }
      ojson inner = ojson::array();
      for (auto& h : group["hooks"])
        if (is_ours(h)) changed = true;
        else inner.push_back(h);
      if (inner.empty() && !group["hooks"].empty()) continue;  // the group held only ours
      group["hooks"] = inner;
      kept.push_back(group);
    }
    if (kept.empty() && !ev->empty()) {
      ev = hooks.erase(ev);
      continue;
    }
    *ev = kept;
    ++ev;
  }
  if (hooks.empty()) settings.erase("hooks");
  return changed;
}

std::string shell_quote(const std::string& s) {
  if (s.find_first_of(" '\"\\$`") == std::string::npos) return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

}  // namespace

int hooks_install(const HooksOptions& o) {
  bool existed = fs::exists(o.settings_path);
  std::string before = existed ? read_all(o.settings_path) : "";
  ojson settings = load_settings(o.settings_path, before);
  ojson updated = settings;
  strip_ours(updated);  // idempotent: our entries are rebuilt with the current options
  // The lean ccmux-hook beside ccmux when there is one (it starts ~3x faster), else `ccmux hook`.
  std::string exe = o.hook_path.empty() ? shell_quote(o.ccmux_path) + " hook" : shell_quote(o.hook_path);
  for (auto& ev : kEvents) {
    bool permission = std::string(ev.name) == "PermissionRequest";
    ojson hook = {{"type", "command"},
                  {"command", exe + (permission ? " --wait " + std::to_string(static_cast<int>(o.wait_s)) : "")},
                  {"timeout", permission ? static_cast<int>(o.wait_s) + 15 : 10}};
    ojson group = ojson::object();
    if (ev.tool) group["matcher"] = "*";
    group["hooks"] = ojson::array({hook});
    if (!updated.contains("hooks") || !updated["hooks"].is_object()) updated["hooks"] = ojson::object();
    if (!updated["hooks"].contains(ev.name) || !updated["hooks"][ev.name].is_array()) updated["hooks"][ev.name] = ojson::array();
    updated["hooks"][ev.name].push_back(group);
  }
  if (updated == settings) {
    std::cout << "ccmux hooks already installed in " << o.settings_path << "\n";
    return 0;
  }
  // The first install keeps the original bytes; uninstall puts them back when nothing else changed.
  json old_state = fs::exists(state_path(o)) ? json::parse(read_all(state_path(o)), nullptr, false) : json();
  bool first = !old_state.is_object();
  bool originally_existed = first ? existed : old_state.value("existed", false);
  if (first && existed) write_all(backup_path(o), before);
  std::string text = updated.dump(2) + "\n";
  write_all(o.settings_path, text);
  write_all(state_path(o), json{{"existed", originally_existed}, {"installed_sha256", sha256_hex(text)}}.dump() + "\n");
  std::cout << "installed ccmux hooks in " << o.settings_path << " (" << std::size(kEvents) << " events";
  if (existed) std::cout << "; original kept in " << backup_path(o);
  std::cout << ")\n";
  return 0;
}

int hooks_uninstall(const HooksOptions& o) {
  if (!fs::exists(o.settings_path)) {
    std::cout << "no " << o.settings_path << "\n";
    return 0;
  }
  std::string now = read_all(o.settings_path);
  json state = fs::exists(state_path(o)) ? json::parse(read_all(state_path(o)), nullptr, false) : json();
  if (state.is_object() && state.value("installed_sha256", "") == sha256_hex(now)) {
    // Nothing changed since install: the file goes back to exactly what it was.
    if (state.value("existed", false)) write_all(o.settings_path, read_all(backup_path(o)));
    else fs::remove(o.settings_path);
    fs::remove(backup_path(o));
    fs::remove(state_path(o));
    std::cout << "removed ccmux hooks; " << o.settings_path << " is as it was before install\n";
    return 0;
  }
  ojson settings = load_settings(o.settings_path, now);
  if (!strip_ours(settings)) {
    std::cout << "no ccmux hooks in " << o.settings_path << "\n";
    return 0;
  }
  write_all(o.settings_path, settings.dump(2) + "\n");
  fs::remove(state_path(o));
  std::cout << "removed ccmux hooks from " << o.settings_path << " (your other changes kept";
  if (fs::exists(backup_path(o))) std::cout << "; the pre-install copy stays in " << backup_path(o);
  std::cout << ")\n";
  return 0;
}

int hooks_status(const HooksOptions& o, const std::string& socket_path) {
  std::string text = fs::exists(o.settings_path) ? read_all(o.settings_path) : "";
  ojson settings = load_settings(o.settings_path, text);
  int found = 0;
  for (auto& ev : kEvents) {
    bool here = false;
    if (settings.contains("hooks") && settings["hooks"].contains(ev.name))
      for (auto& g : settings["hooks"][ev.name])
        if (g.contains("hooks"))
          for (auto& h : g["hooks"]) here = here || is_ours(h);
    found += here;
    std::cout << (here ? "installed  " : "missing    ") << ev.name << "\n";
  }
  bool up = true;
  try {
    Client c(socket_path);
  } catch (const std::exception&) {
    up = false;
  }
  std::cout << found << "/" << std::size(kEvents) << " hooks in " << o.settings_path << "; ccmuxd "
            << (up ? "reachable at " + socket_path : "not running (hooks stay out of claude's way)") << "\n";
  return found == static_cast<int>(std::size(kEvents)) ? 0 : 1;
}

}  // namespace ccmux::cli
