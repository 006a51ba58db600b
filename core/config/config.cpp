#include "config/config.h"

#include "paths.h"
#include "util.h"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <unistd.h>

namespace ccmux {
namespace {

using nlohmann::json;

// Builds a KeySchema line by line: Key("port", ValueType::integer).def("8420").range(1, 65535).
struct Key {
  KeySchema s;
  Key(std::string name, ValueType t) {
    s.name = std::move(name);
    s.type = t;
  }
  Key& def(std::string v) {
    s.default_yaml = std::move(v);
    return *this;
  }
  Key& range(std::optional<double> lo, std::optional<double> hi, std::string message = "") {
    s.min = lo;
    s.max = hi;
    s.range_message = std::move(message);
    return *this;
  }
  Key& choices(std::vector<std::string> c) {
    s.choices = std::move(c);
    return *this;
  }
  Key& required() {
    s.required = true;
    return *this;
  }
};

// A core key: its schema, and where its validated value goes in Config.
struct CoreKey {
  KeySchema schema;
  void (*set)(Config&, const json&);
};

constexpr auto S = ValueType::string;
constexpr auto I = ValueType::integer;
constexpr auto N = ValueType::number;
constexpr auto L = ValueType::string_list;
constexpr auto M = ValueType::string_map;
constexpr auto B = ValueType::boolean;
// Durations, sizes and counts are never negative; their own lower bounds come on top.
constexpr double kNonNegative = 0;

std::vector<std::string> list(const json& v) { return v.get<std::vector<std::string>>(); }

const std::map<std::string, std::vector<CoreKey>>& core_keys() {
  static const std::map<std::string, std::vector<CoreKey>> keys = {
      {"daemon",
       {{Key("state_dir", S).s, [](Config& c, const json& v) { c.state_dir = expand_home(v); }},
        {Key("socket", S).s, [](Config& c, const json& v) { c.socket_path = expand_home(v); }},
        {Key("log_level", S).def("info").choices({"trace", "debug", "info", "warn", "error"}).s,
         [](Config& c, const json& v) { c.log_level = v; }}}},
      {"claude",
       {{Key("path", S).s, [](Config& c, const json& v) { c.claude_path = expand_home(v); }},
        {Key("extra_args", L).s, [](Config& c, const json& v) { c.claude_extra_args = list(v); }},
        {Key("env", M).s, [](Config& c, const json& v) { c.claude_env = v.get<std::map<std::string, std::string>>(); }},
        {Key("model", S).s, [](Config& c, const json& v) { c.model = v; }},
        {Key("idle_timeout", N).def("600").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.idle_timeout_s = v; }},
        {Key("start_timeout", N).def("120").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.start_timeout_s = v; }},
        {Key("stop_grace", N).def("5").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.stop_grace_s = v; }},
        {Key("park_after", N).def("600").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.park_after_s = v; }},
        {Key("max_live", I).def("0").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.max_live = v; }},
        {Key("warm_pool", I).def("1").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.warm_pool = v; }},
        {Key("warm_pool_idle", N).def("3600").range(kNonNegative, {}).s,
         [](Config& c, const json& v) { c.warm_pool_idle_s = v; }},
        {Key("memory_reserve_mb", I).def("1024").range(kNonNegative, {}).s,
         [](Config& c, const json& v) { c.memory_reserve_mb = v; }},
        {Key("restart_backoff", N).def("0.5").range(kNonNegative, {}).s,
         [](Config& c, const json& v) { c.restart_backoff_s = v; }},
        {Key("restart_backoff_max", N).def("30").range(kNonNegative, {}).s,
         [](Config& c, const json& v) { c.restart_backoff_max_s = v; }},
        {Key("crash_limit", I).def("5").range(1, {}, "must be at least 1 (give up at the first crash)").s,
         [](Config& c, const json& v) { c.crash_limit = v; }},
        {Key("crash_window", N).def("300").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.crash_window_s = v; }},
        // Issue 13: each claude runs under a ccmux-shim holder and outlives ccmuxd.
        {Key("hold", B).def("true").s, [](Config& c, const json& v) { c.hold = v; }},
        {Key("shim", S).s, [](Config& c, const json& v) { c.shim_path = expand_home(v); }},
        // Below 16 KiB a cut event has no room for its shape; above 64 MiB one event could
        // outgrow what clients accept (the socket's 64 MiB message limit, a phone's memory).
        {Key("max_event_bytes", I)
             .def("8388608")
             .range(16 << 10, 64 << 20, "must be from 16384 (16 KiB) to 67108864 (64 MiB), got {got}")
             .s,
         [](Config& c, const json& v) { c.max_event_bytes = v; }}}},
      {"projects",
       {{Key("roots", L).s,
         [](Config& c, const json& v) {
           c.project_roots.clear();
           for (auto& p : list(v)) c.project_roots.push_back(expand_home(p));
         }}}},
      {"approval",
       {{Key("timeout", N).def("3600").range(kNonNegative, {}).s, [](Config& c, const json& v) { c.approval_timeout_s = v; }},
        {Key("on_timeout", S).def("deny").choices({"deny"}).s, [](Config& c, const json& v) { c.on_timeout = v; }},
        {Key("policies", L).s, [](Config& c, const json& v) { c.policies = list(v); }},
        {Key("lua_memory_mb", I).def("32").range(1, 4096, "must be between 1 and 4096 (MiB)").s,
         [](Config& c, const json& v) { c.lua_memory_mb = v; }},
        {Key("lua_instructions", I).def("1000000").range(1000, {}, "must be at least 1000").s,
         [](Config& c, const json& v) { c.lua_instructions = v; }},
        {Key("lua_timeout_ms", I).def("1000").range(10, 600000, "must be between 10 and 600000 (ms)").s,
         [](Config& c, const json& v) { c.lua_timeout_ms = v; }}}},
      // Issue 15: session worktrees go to <dir>/<repo name>/NAME (default <repo>/../.ccmux-worktrees).
      {"worktrees",
       {{Key("dir", S).s, [](Config& c, const json& v) { c.worktrees_dir = expand_home(v); }}}},
  };
  return keys;
}

const std::string kRelativeWorktrees = "must be an absolute path (or start with ~), got '";

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void assign(Config& c, const std::string& section, const json& values) {
  for (auto& k : core_keys().at(section))
    if (values.contains(k.schema.name)) k.set(c, values[k.schema.name]);
}

void read_plugins(Config& c, const YAML::Node& list, const std::string& file) {
  if (!list.IsSequence()) config_fail(file, list.Mark(), "plugins", "expected a list of plugin entries");
  size_t i = 0;
  for (const auto& entry : list) {
    SectionSchema schema = plugin_entry_schema();
    schema.path = "plugins[" + std::to_string(i++) + "]";
    if (!entry.IsMap()) config_fail(file, entry.Mark(), schema.path, "expected a map with at least 'name'");
    // Other keys belong to the plugin; the plugin host validates them against its declaration.
    json v = validate_section(schema, entry, file);
    PluginEntry p;
    p.node.reset(static_cast<const YAML::Node&>(entry));
    p.file = file;
    p.name = v["name"];
    if (v.contains("path")) p.path = expand_home(v["path"].get<std::string>());
    if (v.contains("search_dir")) p.search_dir = expand_home(v["search_dir"].get<std::string>());
    p.enabled = v["enabled"];
    p.required = v["required"];
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
  for (const auto& [section, keys] : core_keys()) {
    for (const auto& k : keys) {
      std::string var = "CCMUX_" + section + "_" + k.schema.name;
      for (auto& ch : var) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      const char* v = std::getenv(var.c_str());
      if (!v || k.schema.type == ValueType::string_map) continue;
      YAML::Node n;
      if (k.schema.type == ValueType::string_list) {
        std::stringstream ss(v);
        std::string part;
        while (std::getline(ss, part, ':'))
          if (!part.empty()) n.push_back(part);
        if (!n.IsSequence()) n = YAML::Node(YAML::NodeType::Sequence);
      } else {
        n = YAML::Node(std::string(v));
      }
      k.set(c, validate_value(k.schema, n, "environment " + var, section + "." + k.schema.name));
    }
  }
  if (!c.worktrees_dir.empty() && c.worktrees_dir[0] != '/')
    config_fail("environment CCMUX_WORKTREES_DIR", YAML::Mark::null_mark(), "worktrees.dir",
                kRelativeWorktrees + c.worktrees_dir + "'");
}

Config parse_root(const YAML::Node& root, const std::string& file) {
  Config c;
  c.source = file;
  if (root.IsDefined() && !root.IsNull() && !root.IsMap()) config_fail(file, root.Mark(), "", "the config must be a map of sections");
  bool has_root = root.IsDefined() && root.IsMap();
  if (has_root) {
    for (const auto& kv : root) {
      const std::string section = kv.first.Scalar();
      if (section == "plugins") {
        if (!kv.second.IsNull()) read_plugins(c, kv.second, file);
        continue;
      }
      if (!core_keys().count(section)) {
        std::vector<std::string> known = {"plugins"};
        for (auto& [k, _] : core_keys()) known.push_back(k);
        config_fail(file, kv.first.Mark(), section, "unknown section (known: " + join(known) + ")");
      }
    }
  }
  // Every section, present or not: an absent one still gets its defaults.
  for (const auto& schema : core_schema()) {
    YAML::Node node = has_root ? root[schema.path] : YAML::Node();
    assign(c, schema.path, validate_section(schema, node, file));
  }
  if (!c.worktrees_dir.empty() && c.worktrees_dir[0] != '/')
    config_fail(file, root["worktrees"]["dir"].Mark(), "worktrees.dir", kRelativeWorktrees + c.worktrees_dir + "'");
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

const std::vector<SectionSchema>& core_schema() {
  static const std::vector<SectionSchema> sections = [] {
    std::vector<SectionSchema> out;
    for (auto& [name, keys] : core_keys()) {
      SectionSchema s;
      s.path = name;
      for (auto& k : keys) s.keys.push_back(k.schema);
      out.push_back(std::move(s));
    }
    return out;
  }();
  return sections;
}

const SectionSchema& plugin_entry_schema() {
  static const SectionSchema s = [] {
    SectionSchema e;
    e.keys = {Key("name", S).required().s, Key("path", S).s, Key("search_dir", S).s,
              Key("enabled", ValueType::boolean).def("true").s, Key("required", ValueType::boolean).def("false").s};
    e.allow_unknown = true;
    return e;
  }();
  return s;
}

Config parse_config(const std::string& yaml_text, const std::string& name) {
  return finish(parse_root(load_yaml([&] { return YAML::Load(yaml_text); }, name), name));
}

Config load_config(const std::string& path, bool explicit_path) {
  std::string file = path.empty() ? default_config_path() : path;
  if (!explicit_path && !std::filesystem::exists(file)) return finish(parse_root(YAML::Node(), ""));
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
