// One validator for the core's sections and the plugins' keys (config_schema.h), and the
// plugin declarations it is built from (plugin_schema.h): SDK 1.4 specs and 1.0-1.3 keys.
#include "config/config.h"
#include "config/config_schema.h"
#include "plugins/plugin_schema.h"

#include <ccmux/plugin.hpp>

#include <gtest/gtest.h>

using namespace ccmux;
using nlohmann::json;

namespace {
const char* const kModes[] = {"fast", "careful"};
using K = ccmux::ConfigKey;
const ccmux_config_spec kSpecs[] = {
    K::integer("port", "TCP port").def("8420").range(1, 65535),
    K::string("mode", "how").def("fast").choices(kModes),
    K::list("modes", "several").choices(kModes),
    K::list("chats", "who gets messages").required(),
    K::number("ratio", "a share").range(0, 1),
    K::boolean("loud", "say more").def("false"),
};

ccmux_plugin_descriptor descriptor_with(const ccmux_config_spec* specs, size_t n) {
  ccmux_plugin_descriptor d{};
  d.struct_size = sizeof d;
  d.config_specs = specs;
  d.config_spec_count = n;
  return d;
}

// The plugin entry `yaml` (a `plugins:` list item, as a map) checked against `d`.
json check(const ccmux_plugin_descriptor& d, const std::string& yaml) {
  return validate_section(plugin_schema("p", d), YAML::Load(yaml), "t.yaml");
}

std::string error_of(const ccmux_plugin_descriptor& d, const std::string& yaml) {
  try {
    check(d, yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ConfigSchema, PluginKeysGetTheirDefaultsAndTypedValues) {
  auto d = descriptor_with(kSpecs, std::size(kSpecs));
  json v = check(d, "name: p\npath: /x.so\nchats: [\"1\"]\n");
  EXPECT_EQ(v, json::parse(R"({"chats":["1"],"port":8420,"mode":"fast","loud":false})")) << v.dump();
  v = check(d, "name: p\nchats: []\nport: 443\nratio: 0.25\nloud: yes\nmodes: [careful]\n");
  EXPECT_EQ(v["port"], 443);
  EXPECT_TRUE(v["port"].is_number_integer());
  EXPECT_DOUBLE_EQ(v["ratio"].get<double>(), 0.25);
  EXPECT_EQ(v["loud"], true);
  EXPECT_EQ(v["modes"], json::array({"careful"}));
}

TEST(ConfigSchema, PluginRangesChoicesAndRequiredKeysFailWithFileLineColumn) {
  auto d = descriptor_with(kSpecs, std::size(kSpecs));
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nport: 0\n"), "t.yaml:3:7: key 'plugins.p.port': must be from 1 to 65535, got 0");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nport: -1\n"), "t.yaml:3:7: key 'plugins.p.port': must be from 1 to 65535, got -1");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nport: 8k\n"), "t.yaml:3:7: key 'plugins.p.port': expected a non-negative integer, got '8k'");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nmode: slow\n"),
            "t.yaml:3:7: key 'plugins.p.mode': bad value 'slow' (expected one of: fast, careful)");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nmodes: [fast, slow]\n"),
            "t.yaml:3:15: key 'plugins.p.modes': bad value 'slow' (expected one of: fast, careful)");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nratio: 1.5\n"), "t.yaml:3:8: key 'plugins.p.ratio': must be from 0 to 1, got 1.5");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nratio: nan\n"),
            "t.yaml:3:8: key 'plugins.p.ratio': expected a non-negative number, got 'nan'");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nloud: maybe\n"), "t.yaml:3:7: key 'plugins.p.loud': expected true or false, got 'maybe'");
  EXPECT_EQ(error_of(d, "name: p\nport: 80\n"), "t.yaml:1:1: key 'plugins.p.chats': missing required key (who gets messages)");
  EXPECT_EQ(error_of(d, "name: p\nchats: []\nprot: 80\n"),
            "t.yaml:3:1: key 'plugins.p.prot': unknown key (plugin p accepts: chats, loud, mode, modes, port, ratio)");
}

TEST(ConfigSchema, ABrokenDeclarationIsThePluginsFault) {
  const ccmux_config_spec bad_default[] = {K::integer("port", "TCP port").def("0").range(1, 65535)};
  try {
    plugin_schema("p", descriptor_with(bad_default, 1));
    FAIL() << "a default outside its own range was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the default of key 'port' ('0') is invalid: must be from 1 to 65535, got 0"),
              std::string::npos)
        << e.what();
  }
  const ccmux_config_spec twice[] = {K::string("a", ""), K::string("a", "")};
  EXPECT_THROW(plugin_schema("p", descriptor_with(twice, 2)), std::invalid_argument);
  const ccmux_config_spec host_key[] = {K::string("path", "")};
  EXPECT_THROW(plugin_schema("p", descriptor_with(host_key, 1)), std::invalid_argument);
  const ccmux_config_spec inverted[] = {K::integer("n", "").range(5, 1)};
  EXPECT_THROW(plugin_schema("p", descriptor_with(inverted, 1)), std::invalid_argument);
  ccmux_config_spec unknown_type = K::string("t", "");
  unknown_type.type = 99;
  EXPECT_THROW(plugin_schema("p", descriptor_with(&unknown_type, 1)), std::invalid_argument);
}

TEST(ConfigSchema, SpecsAreSteppedByTheirOwnSizeSoTheStructCanGrow) {
  // A later SDK's spec: the 1.4 fields first, something new after them.
  struct Later {
    ccmux_config_spec spec;
    double added_in_a_later_sdk;
  };
  Later later[2] = {{K::integer("a", "").def("1"), 1.0}, {K::integer("b", "").def("2"), 2.0}};
  for (auto& l : later) l.spec.struct_size = sizeof(Later);
  json v = check(descriptor_with(&later[0].spec, 2), "name: p\n");
  EXPECT_EQ(v, json::parse(R"({"a":1,"b":2})"));
  // Shorter than 1.4's: refused rather than read past its end.
  ccmux_config_spec tiny = K::integer("a", "");
  tiny.struct_size = 8;
  EXPECT_THROW(plugin_schema("p", descriptor_with(&tiny, 1)), std::invalid_argument);
}

TEST(ConfigSchema, OldPluginsKeysAndDescriptorsStillWork) {
  const ccmux_config_key keys[] = {{"greeting", CCMUX_CFG_STRING, 0, "a word"}, {"count", CCMUX_CFG_INT, 1, "how many"}};
  ccmux_plugin_descriptor d{};
  // A 1.3 descriptor ends before config_specs: whatever lies there is not read.
  d.struct_size = offsetof(ccmux_plugin_descriptor, config_specs);
  d.config_keys = keys;
  d.config_key_count = 2;
  d.config_specs = reinterpret_cast<const ccmux_config_spec*>(0x1);  // garbage past the end
  d.config_spec_count = 7;
  EXPECT_EQ(check(d, "name: p\ncount: 3\n"), json::parse(R"({"count":3})"));  // no defaults in 1.0 keys
  EXPECT_EQ(error_of(d, "name: p\n"), "t.yaml:1:1: key 'plugins.p.count': missing required key (how many)");
  EXPECT_EQ(error_of(d, "name: p\ncount: 3\ngreeting: [a]\n"), "t.yaml:3:11: key 'plugins.p.greeting': expected a string");
}

TEST(ConfigSchema, TheCoreSectionsUseTheSameSchemaAndItsDefaultsAreConfigs) {
  // The defaults the schema declares are what Config holds when nothing is configured.
  Config defaults = parse_config("", "t.yaml");
  Config plain;
  EXPECT_EQ(defaults.log_level, plain.log_level);
  EXPECT_EQ(defaults.idle_timeout_s, plain.idle_timeout_s);
  EXPECT_EQ(defaults.start_timeout_s, plain.start_timeout_s);
  EXPECT_EQ(defaults.stop_grace_s, plain.stop_grace_s);
  EXPECT_EQ(defaults.park_after_s, plain.park_after_s);
  EXPECT_EQ(defaults.max_live, plain.max_live);
  EXPECT_EQ(defaults.warm_pool, plain.warm_pool);
  EXPECT_EQ(defaults.warm_pool_idle_s, plain.warm_pool_idle_s);
  EXPECT_EQ(defaults.memory_reserve_mb, plain.memory_reserve_mb);
  EXPECT_EQ(defaults.restart_backoff_s, plain.restart_backoff_s);
  EXPECT_EQ(defaults.restart_backoff_max_s, plain.restart_backoff_max_s);
  EXPECT_EQ(defaults.crash_limit, plain.crash_limit);
  EXPECT_EQ(defaults.crash_window_s, plain.crash_window_s);
  EXPECT_EQ(defaults.max_event_bytes, plain.max_event_bytes);
  EXPECT_EQ(defaults.approval_timeout_s, plain.approval_timeout_s);
  EXPECT_EQ(defaults.on_timeout, plain.on_timeout);
  EXPECT_EQ(defaults.lua_memory_mb, plain.lua_memory_mb);
  EXPECT_EQ(defaults.lua_instructions, plain.lua_instructions);
  EXPECT_EQ(defaults.lua_timeout_ms, plain.lua_timeout_ms);
  // Every core key is a KeySchema whose default passes its own checks.
  std::set<std::string> sections;
  for (auto& s : core_schema()) {
    sections.insert(s.path);
    EXPECT_EQ(check_defaults(s), "") << s.path;
  }
  EXPECT_EQ(sections, (std::set<std::string>{"approval", "claude", "daemon", "projects", "worktrees"}));
  // The host keys of a plugin entry too.
  EXPECT_EQ(check_defaults(plugin_entry_schema()), "");
  EXPECT_TRUE(plugin_entry_schema().find("name")->required);
}
