// One schema type and one validator for every configuration section: the core's own (daemon,
// claude, projects, approval, a plugin entry's host keys) and each plugin's keys as its
// descriptor declares them (plugin_schema.h). Every error is "file:line:col: key 'a.b': what".
#pragma once

#include <ccmux/plugin_abi.h>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace ccmux {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The ABI's ccmux_config_type, so a plugin's declaration maps one to one.
enum class ValueType {
  string = CCMUX_CFG_STRING,
  integer = CCMUX_CFG_INT,
  boolean = CCMUX_CFG_BOOL,
  number = CCMUX_CFG_FLOAT,
  string_list = CCMUX_CFG_STRING_LIST,
  string_map = CCMUX_CFG_MAP,
};

struct KeySchema {
  std::string name;
  ValueType type = ValueType::string;
  bool required = false;
  std::string help;                         // one line; quoted when a required key is missing
  std::optional<std::string> default_yaml;  // as written in the file ("8420", "[a, b]"); none: absent stays absent
  std::optional<double> min, max;           // integer and number: inclusive bounds
  std::vector<std::string> choices;         // string, and each item of a string_list
  // Replaces the generic range message ("must be from 1 to 65535, got 0"); "{got}" is the value.
  std::string range_message;
};

struct SectionSchema {
  std::string path;                    // "claude", "plugins.hello": messages name key '<path>.<key>'
  std::vector<KeySchema> keys;
  std::string known_label = "known";   // "unknown key (<known_label>: a, b)"
  std::set<std::string> ignored;       // keys another schema validates (a plugin entry's host keys)
  bool allow_unknown = false;          // other keys belong to someone else (the plugin's own keys)
  const KeySchema* find(const std::string& name) const;
};

[[noreturn]] void config_fail(const std::string& file, const YAML::Mark& mark, const std::string& key, const std::string& what);

// One value against its key. `key_path` is what messages call it ("claude.max_live").
nlohmann::json validate_value(const KeySchema& key, const YAML::Node& value, const std::string& file,
                              const std::string& key_path);
// A whole section (a map, or a null/undefined node for an absent one): unknown keys, each value,
// missing required keys (reported at `section`'s mark), then the defaults of absent keys.
// Returns the section's values as a JSON object (integers as int64, lists as arrays).
nlohmann::json validate_section(const SectionSchema& schema, const YAML::Node& section, const std::string& file);
// The declared defaults must pass their own key's checks: returns an error message, or "".
std::string check_defaults(const SectionSchema& schema);

}  // namespace ccmux
