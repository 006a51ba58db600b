#include "config.h"

#include "paths.h"
#include "util.h"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <unistd.h>

namespace ccmux {
namespace {

enum class Kind { string, number, integer, boolean, string_list, string_map, enumeration };

struct KeySpec {
  Kind kind;
  std::vector<std::string> choices;  // for enumeration
};

using SectionSpec = std::map<std::string, KeySpec>;

const std::map<std::string, SectionSpec>& schema() {
  static const std::map<std::string, SectionSpec> s = {
      {"daemon",
       {{"state_dir", {Kind::string, {}}},
        {"socket", {Kind::string, {}}},
        {"log_level", {Kind::enumeration, {"trace", "debug", "info", "warn", "error"}}}}},
      {"claude",
       {{"path", {Kind::string, {}}},
        {"extra_args", {Kind::string_list, {}}},
        {"env", {Kind::string_map, {}}},
        {"model", {Kind::string, {}}},
        {"idle_timeout", {Kind::number, {}}},
        {"start_timeout", {Kind::number, {}}},
        {"stop_grace", {Kind::number, {}}},
        {"park_after", {Kind::number, {}}},
        {"max_live", {Kind::integer, {}}},
        {"warm_pool", {Kind::integer, {}}},
        {"warm_pool_idle", {Kind::number, {}}},
        {"memory_reserve_mb", {Kind::integer, {}}},
        {"restart_backoff", {Kind::number, {}}},
        {"restart_backoff_max", {Kind::number, {}}},
        {"crash_limit", {Kind::integer, {}}},
        {"crash_window", {Kind::number, {}}},
        {"max_event_bytes", {Kind::integer, {}}}}},
      {"projects", {{"roots", {Kind::string_list, {}}}}},
      {"approval",
       {{"timeout", {Kind::number, {}}},
        {"on_timeout", {Kind::enumeration, {"deny"}}},
        {"policies", {Kind::string_list, {}}},
        {"lua_memory_mb", {Kind::integer, {}}},
        {"lua_instructions", {Kind::integer, {}}},
        {"lua_timeout_ms", {Kind::integer, {}}}}},
  };
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::vector<std::string> keys_of(const SectionSpec& spec) {
  std::vector<std::string> v;
  for (auto& [k, _] : spec) v.push_back(k);
  return v;
}

struct Reader {
  std::string file;

  [[noreturn]] void fail(const YAML::Mark& m, const std::string& key, const std::string& what) const {
    std::ostringstream os;
    os << file << ":" << (m.is_null() ? 0 : m.line + 1) << ":" << (m.is_null() ? 0 : m.column + 1) << ": ";
    if (!key.empty()) os << "key '" << key << "': ";
    os << what;
    throw ConfigError(os.str());
  }

  std::string scalar(const YAML::Node& n, const std::string& key, const char* expected) const {
    if (!n.IsScalar()) fail(n.Mark(), key, std::string("expected ") + expected);
    return n.Scalar();
  }

  double number(const YAML::Node& n, const std::string& key) const {
    std::string s = scalar(n, key, "a number");
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used != s.size() || d < 0) throw std::invalid_argument(s);
      return d;
    } catch (const std::exception&) {
      fail(n.Mark(), key, "expected a non-negative number, got '" + s + "'");
    }
  }

  int64_t integer(const YAML::Node& n, const std::string& key) const {
    std::string s = scalar(n, key, "an integer");
    try {
      size_t used = 0;
      long long v = std::stoll(s, &used);
      if (used != s.size() || v < 0) throw std::invalid_argument(s);
      return v;
    } catch (const std::exception&) {
      fail(n.Mark(), key, "expected a non-negative integer, got '" + s + "'");
    }
  }

  bool boolean(const YAML::Node& n, const std::string& key) const {
    std::string s = scalar(n, key, "true or false");
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(n.Mark(), key, "expected true or false, got '" + s + "'");
  }

  std::vector<std::string> list(const YAML::Node& n, const std::string& key) const {
    if (!n.IsSequence()) fail(n.Mark(), key, "expected a list of strings");
    std::vector<std::string> out;
    for (const auto& item : n) out.push_back(scalar(item, key, "a string in the list"));
    return out;
  }

  std::map<std::string, std::string> map(const YAML::Node& n, const std::string& key) const {
    if (!n.IsMap()) fail(n.Mark(), key, "expected a map of strings");
    std::map<std::string, std::string> out;
    for (const auto& kv : n) out[kv.first.Scalar()] = scalar(kv.second, key + "." + kv.first.Scalar(), "a string");
    return out;
  }
};

// Applies one validated value to the config.
void assign(Config& c, const std::string& section, const std::string& key, const YAML::Node& n, const Reader& r) {
  const std::string full = section + "." + key;
  const KeySpec& spec = schema().at(section).at(key);
  if (spec.kind == Kind::enumeration) {
    std::string v = r.scalar(n, full, "a string");
    if (std::find(spec.choices.begin(), spec.choices.end(), v) == spec.choices.end())
      r.fail(n.Mark(), full, "bad value '" + v + "' (expected one of: " + join(spec.choices) + ")");
  }
  if (full == "daemon.state_dir") c.state_dir = expand_home(r.scalar(n, full, "a string"));
  else if (full == "daemon.socket") c.socket_path = expand_home(r.scalar(n, full, "a string"));
  else if (full == "daemon.log_level") c.log_level = n.Scalar();
  else if (full == "claude.path") c.claude_path = expand_home(r.scalar(n, full, "a string"));
  else if (full == "claude.extra_args") c.claude_extra_args = r.list(n, full);
  else if (full == "claude.env") c.claude_env = r.map(n, full);
  else if (full == "claude.model") c.model = r.scalar(n, full, "a string");
  else if (full == "claude.idle_timeout") c.idle_timeout_s = r.number(n, full);
  else if (full == "claude.start_timeout") c.start_timeout_s = r.number(n, full);
  else if (full == "claude.stop_grace") c.stop_grace_s = r.number(n, full);
  else if (full == "claude.park_after") c.park_after_s = r.number(n, full);
  else if (full == "claude.max_live") c.max_live = r.integer(n, full);
  else if (full == "claude.warm_pool") c.warm_pool = r.integer(n, full);
  else if (full == "claude.warm_pool_idle") c.warm_pool_idle_s = r.number(n, full);
  else if (full == "claude.memory_reserve_mb") c.memory_reserve_mb = r.integer(n, full);
  else if (full == "claude.restart_backoff") c.restart_backoff_s = r.number(n, full);
  else if (full == "claude.restart_backoff_max") c.restart_backoff_max_s = r.number(n, full);
  else if (full == "claude.crash_limit") {
    c.crash_limit = r.integer(n, full);
    if (c.crash_limit < 1) r.fail(n.Mark(), full, "must be at least 1 (give up at the first crash)");
  } else if (full == "claude.crash_window") c.crash_window_s = r.number(n, full);
  else if (full == "claude.max_event_bytes") {
    c.max_event_bytes = r.integer(n, full);
    // Below 16 KiB a cut event has no room for its shape; above 64 MiB one event could
    // outgrow what clients accept (the socket's 64 MiB message limit, a phone's memory).
    if (c.max_event_bytes < (16 << 10) || c.max_event_bytes > (64 << 20))
      r.fail(n.Mark(), full, "must be from 16384 (16 KiB) to 67108864 (64 MiB), got " + std::to_string(c.max_event_bytes));
  }
  else if (full == "projects.roots") {
    c.project_roots.clear();
    for (auto& p : r.list(n, full)) c.project_roots.push_back(expand_home(p));
  } else if (full == "approval.timeout") c.approval_timeout_s = r.number(n, full);
  else if (full == "approval.on_timeout") c.on_timeout = n.Scalar();
  else if (full == "approval.policies") c.policies = r.list(n, full);
  else if (full == "approval.lua_memory_mb") {
    c.lua_memory_mb = r.integer(n, full);
    if (c.lua_memory_mb < 1 || c.lua_memory_mb > 4096) r.fail(n.Mark(), full, "must be between 1 and 4096 (MiB)");
  } else if (full == "approval.lua_instructions") {
    c.lua_instructions = r.integer(n, full);
    if (c.lua_instructions < 1000) r.fail(n.Mark(), full, "must be at least 1000");
  }
  else if (full == "approval.lua_timeout_ms") {
    c.lua_timeout_ms = r.integer(n, full);
    if (c.lua_timeout_ms < 10 || c.lua_timeout_ms > 600000) r.fail(n.Mark(), full, "must be between 10 and 600000 (ms)");
  }
}

void read_plugins(Config& c, const YAML::Node& list, const Reader& r) {
  if (!list.IsSequence()) r.fail(list.Mark(), "plugins", "expected a list of plugin entries");
  size_t i = 0;
  for (const auto& entry : list) {
    std::string where = "plugins[" + std::to_string(i++) + "]";
    if (!entry.IsMap()) r.fail(entry.Mark(), where, "expected a map with at least 'name'");
    PluginEntry p;
    p.node.reset(static_cast<const YAML::Node&>(entry));
    p.file = r.file;
    if (!entry["name"]) r.fail(entry.Mark(), where + ".name", "missing required key");
    p.name = r.scalar(entry["name"], where + ".name", "a string");
    if (entry["path"]) p.path = expand_home(r.scalar(entry["path"], where + ".path", "a string"));
    if (entry["search_dir"]) p.search_dir = expand_home(r.scalar(entry["search_dir"], where + ".search_dir", "a string"));
    if (entry["enabled"]) p.enabled = r.boolean(entry["enabled"], where + ".enabled");
    if (entry["required"]) p.required = r.boolean(entry["required"], where + ".required");
    // Other keys belong to the plugin; the plugin host validates them against its declaration.
    c.plugins.push_back(std::move(p));
  }
}

void apply_defaults(Config& c) {
  if (c.state_dir.empty()) c.state_dir = default_state_dir();
  if (c.socket_path.empty()) c.socket_path = default_socket_path();
  if (c.project_roots.empty()) c.project_roots.push_back(expand_home("~"));
  if (c.policies.empty()) c.policies.push_back("builtin:default");
}

void apply_env(Config& c) {
  Reader r{"environment"};
  for (const auto& [section, keys] : schema()) {
    for (const auto& [key, spec] : keys) {
      std::string var = "CCMUX_" + section + "_" + key;
      for (auto& ch : var) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      const char* v = std::getenv(var.c_str());
      if (!v || spec.kind == Kind::string_map) continue;
      r.file = "environment " + var;
      YAML::Node n;
      if (spec.kind == Kind::string_list) {
        std::stringstream ss(v);
        std::string part;
        while (std::getline(ss, part, ':'))
          if (!part.empty()) n.push_back(part);
        if (!n.IsSequence()) n = YAML::Node(YAML::NodeType::Sequence);
      } else {
        n = YAML::Node(std::string(v));
      }
      assign(c, section, key, n, r);
    }
  }
}

Config parse_root(const YAML::Node& root, const std::string& file) {
  Reader r{file};
  Config c;
  c.source = file;
  if (root.IsNull()) return c;
  if (!root.IsMap()) r.fail(root.Mark(), "", "the config must be a map of sections");
  for (const auto& kv : root) {
    const std::string section = kv.first.Scalar();
    if (section == "plugins") {
      if (!kv.second.IsNull()) read_plugins(c, kv.second, r);
      continue;
    }
    auto it = schema().find(section);
    if (it == schema().end()) {
      std::vector<std::string> known = {"plugins"};
      for (auto& [k, _] : schema()) known.push_back(k);
      r.fail(kv.first.Mark(), section, "unknown section (known: " + join(known) + ")");
    }
    if (kv.second.IsNull()) continue;
    if (!kv.second.IsMap()) r.fail(kv.second.Mark(), section, "expected a map");
    for (const auto& item : kv.second) {
      const std::string key = item.first.Scalar();
      if (!it->second.count(key))
        r.fail(item.first.Mark(), section + "." + key, "unknown key (known: " + join(keys_of(it->second)) + ")");
      assign(c, section, key, item.second, r);
    }
  }
  return c;
}

Config finish(Config c) {
  apply_env(c);
  apply_defaults(c);
  return c;
}

YAML::Node load_yaml(const std::function<YAML::Node()>& load, const std::string& file) {
  try {
    return load();
  } catch (const YAML::BadFile&) {
    throw ConfigError(file + ":0:0: cannot read the file (missing or unreadable)");
  } catch (const YAML::Exception& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": YAML syntax error: " + e.msg);
  }
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& name) {
  return finish(parse_root(load_yaml([&] { return YAML::Load(yaml_text); }, name), name));
}

Config load_config(const std::string& path, bool explicit_path) {
  std::string file = path.empty() ? default_config_path() : path;
  if (!explicit_path && !std::filesystem::exists(file)) return finish(Config{});
  return finish(parse_root(load_yaml([&] { return YAML::LoadFile(file); }, file), file));
}

std::string resolve_claude_path(const Config& cfg) {
  auto executable = [](const std::string& p) { return !p.empty() && access(p.c_str(), X_OK) == 0; };
  if (!cfg.claude_path.empty()) {
    if (executable(cfg.claude_path)) return cfg.claude_path;
    throw ConfigError("claude.path '" + cfg.claude_path + "' is not an executable file");
  }
  const char* env = std::getenv("CCMUX_CLAUDE_PATH");
  if (env && *env && executable(env)) return env;
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (!dir.empty() && executable(dir + "/claude")) return dir + "/claude";
  throw ConfigError(
      "claude CLI not found: set claude.path in the config, or CCMUX_CLAUDE_PATH, or put 'claude' on PATH "
      "(ccmux-install-claude installs the pinned version)");
}

}  // namespace ccmux
