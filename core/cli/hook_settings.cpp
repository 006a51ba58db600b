#include "hook_settings.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>

namespace ccmux::cli {

using ojson = nlohmann::ordered_json;  // keeps the user's key order when we rewrite the file

const char* const kHookEvents[7] = {"PreToolUse", "PermissionRequest", "UserPromptSubmit", "Notification",
                                    "Stop",       "SessionStart",      "SessionEnd"};

namespace {

bool is_tool_event(const std::string& ev) { return ev == "PreToolUse" || ev == "PermissionRequest"; }

// `ccmux-hook` or `ccmux hook` as a command word: at the start or after a '/', maybe closing a
// quote (shell_quote of a path with spaces), then a space or the end. (No std::regex: the
// libstdc++ one recurses per character.)
bool is_our_command(std::string_view cmd) {
  for (std::string_view word : {"ccmux-hook", "ccmux hook", "ccmux' hook"}) {
    for (size_t at = cmd.find(word); at != std::string_view::npos; at = cmd.find(word, at + 1)) {
      if (at != 0 && cmd[at - 1] != '/') continue;
      size_t end = at + word.size();
      if (end < cmd.size() && cmd[end] == '\'') ++end;
      if (end == cmd.size() || cmd[end] == ' ') return true;
    }
  }
  return false;
}

bool is_ours(const ojson& hook) {
  if (!hook.is_object()) return false;
  auto it = hook.find("command");
  return it != hook.end() && it->is_string() && is_our_command(it->get_ref<const std::string&>());
}

std::string a_type(const ojson& j) {
  if (j.is_array()) return "a list";
  if (j.is_object()) return "an object";
  if (j.is_null()) return "null";
  return std::string("a ") + j.type_name();
}

std::string printable(std::string_view s, size_t max = 300) {
  std::string o;
  for (unsigned char c : s.substr(0, max)) o += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  if (s.size() > max) o += "...";
  return o;
}

// Depth of [ and { outside strings; refuses before nlohmann builds (and later recurses into) it.
std::string depth_error(std::string_view t) {
  int depth = 0, line = 1;
  size_t line_start = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '\n') ++line, line_start = i + 1;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxSettingsDepth)
        return "nested deeper than " + std::to_string(kMaxSettingsDepth) + " levels at line " + std::to_string(line) +
               ", column " + std::to_string(i - line_start + 1);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return "";
}

// Parses a settings object and checks the shape of everything under "hooks" that we walk.
bool parse(std::string_view text, ojson& out, std::string& error) {
  if (text.empty()) {
    out = ojson::object();
    return true;
  }
  if (std::string e = depth_error(text); !e.empty()) {
    error = "not valid settings: " + e;
    return false;
  }
  try {
    out = ojson::parse(text.begin(), text.end());
  } catch (const ojson::exception& e) {
    std::string_view what = e.what();  // "[json.exception.parse_error.101] parse error at line 3, ..."
    if (auto close = what.find("] "); what.rfind("[json.exception.", 0) == 0 && close != std::string_view::npos)
      what.remove_prefix(close + 2);
    error = "not valid JSON: " + printable(what);
    return false;
  }
  if (!out.is_object()) {
    error = "not a JSON object (it is " + a_type(out) + ")";
    return false;
  }
  auto hooks = out.find("hooks");
  if (hooks == out.end()) return true;
  auto wrong = [&](const std::string& where, const ojson& j, const char* expected) {
    error = "\"" + printable(where) + "\" is " + a_type(j) + ", expected " + expected;
    return false;
  };
  if (!hooks->is_object()) return wrong("hooks", *hooks, "an object of events");
  for (auto& [event, groups] : hooks->items()) {
    std::string at = "hooks." + event;
    if (!groups.is_array()) return wrong(at, groups, "a list of hook groups");
    for (size_t i = 0; i < groups.size(); ++i) {
      const ojson& g = groups[i];
      std::string gat = at + "[" + std::to_string(i) + "]";
      if (!g.is_object()) return wrong(gat, g, "an object");
      auto inner = g.find("hooks");
      if (inner != g.end() && !inner->is_array()) return wrong(gat + ".hooks", *inner, "a list of hooks");
    }
  }
  return true;
}

bool is_installed_event(std::string_view ev) {
  for (const char* e : kHookEvents)
    if (ev == e) return true;
  return false;
}

// Removes every ccmux hook, under whatever event it is, and the groups that held only ours;
// an event left empty by that goes too (to Claude Code an empty list is no list). Install
// (`keep_ours_events`) keeps the events it is about to fill again, so its entries go back
// where they were; a ccmux hook under any other event (a misspelt "PreT.oolUse" Claude Code
// never runs) is stale either way and leaves no empty list behind.
bool strip_ours(ojson& settings, bool keep_ours_events) {
  auto hooks = settings.find("hooks");
  if (hooks == settings.end()) return false;
  bool changed = false;
  for (auto ev = hooks->begin(); ev != hooks->end();) {
    ojson kept = ojson::array();
    for (auto& group : *ev) {
      auto inner = group.find("hooks");
      if (inner == group.end()) {
        kept.push_back(std::move(group));
        continue;
      }
      ojson rest = ojson::array();
      for (auto& h : *inner)
        if (is_ours(h)) changed = true;
        else rest.push_back(std::move(h));
      if (rest.empty() && !inner->empty()) continue;  // the group held only ours
      *inner = std::move(rest);
      kept.push_back(std::move(group));
    }
    if (kept.empty() && !ev->empty() && !(keep_ours_events && is_installed_event(ev.key()))) {
      ev = hooks->erase(ev);
      continue;
    }
    *ev = std::move(kept);
    ++ev;
  }
  if (!keep_ours_events && hooks->empty() && changed) settings.erase(hooks);
  return changed;
}

bool holds_ours(const ojson& groups) {
  for (auto& g : groups)
    if (auto inner = g.find("hooks"); inner != g.end())
      for (auto& h : *inner)
        if (is_ours(h)) return true;
  return false;
}

SettingsEdit finish(const ojson& j) {
  SettingsEdit r;
  try {
    r.text = j.dump(2) + "\n";
  } catch (const ojson::exception& e) {  // not expected: the parser already checked UTF-8
    r.error = std::string("cannot write it back: ") + e.what();
    return r;
  }
  r.ok = r.changed = true;
  return r;
}

}  // namespace

SettingsEdit add_ccmux_hooks(std::string_view settings_text, const HookCommands& cmds) {
  SettingsEdit r;
  ojson settings;
  if (!parse(settings_text, settings, r.error)) return r;
  ojson updated = settings;
  strip_ours(updated, true);  // idempotent: our entries are rebuilt with the current options
  ojson& hooks = updated["hooks"];
  if (hooks.is_null()) hooks = ojson::object();
  for (const char* ev : kHookEvents) {
    bool permission = std::string_view(ev) == "PermissionRequest";
    ojson hook = {{"type", "command"},
                  {"command", cmds.exe + (permission ? " --wait " + std::to_string(cmds.wait_s) : "")},
                  {"timeout", permission ? cmds.wait_s + 15 : 10}};
    ojson group = ojson::object();
    if (is_tool_event(ev)) group["matcher"] = "*";
    group["hooks"] = ojson::array({hook});
    ojson& list = hooks[ev];
    if (list.is_null()) list = ojson::array();
    list.push_back(std::move(group));
  }
  if (updated == settings) {
    r.ok = true;
    return r;
  }
  return finish(updated);
}

SettingsEdit remove_ccmux_hooks(std::string_view settings_text) {
  SettingsEdit r;
  ojson settings;
  if (!parse(settings_text, settings, r.error)) return r;
  if (!strip_ours(settings, false)) {
    r.ok = true;
    return r;
  }
  return finish(settings);
}

HooksFound find_ccmux_hooks(std::string_view settings_text) {
  HooksFound r;
  ojson settings;
  if (!parse(settings_text, settings, r.error)) return r;
  r.ok = true;
  auto hooks = settings.find("hooks");
  if (hooks == settings.end()) return r;
  for (const char* ev : kHookEvents)
    if (auto it = hooks->find(ev); it != hooks->end() && holds_ours(*it)) r.events.push_back(ev);
  for (auto& [ev, groups] : hooks->items()) {
    if (!is_installed_event(ev) && holds_ours(groups)) r.stray.push_back(ev);
    for (auto& g : groups)
      if (auto inner = g.find("hooks"); inner != g.end())
        for (auto& h : *inner)
          if (is_ours(h)) {
            const std::string& cmd = h["command"].get_ref<const std::string&>();
            if (std::find(r.commands.begin(), r.commands.end(), cmd) == r.commands.end()) r.commands.push_back(cmd);
          }
  }
  return r;
}

std::string hook_program(std::string_view command) {
  std::string word;
  size_t i = 0;
  while (i < command.size() && command[i] == ' ') ++i;
  for (; i < command.size() && command[i] != ' '; ++i) {
    if (command[i] == '\\' && i + 1 < command.size()) {
      word += command[++i];
      continue;
    }
    if (command[i] != '\'') {
      word += command[i];
      continue;
    }
    size_t close = command.find('\'', i + 1);
    if (close == std::string_view::npos) close = command.size();
    word.append(command.substr(i + 1, close - i - 1));
    i = close;
  }
  return word;
}

}  // namespace ccmux::cli
