#include "plugins/plugin_schema.h"

#include "config/config.h"

#include <cstddef>
#include <stdexcept>

namespace ccmux {

namespace {

// The 1.4 fields a spec must reach: specs appeared in 1.4, so none can be shorter.
constexpr size_t kMinSpecSize = offsetof(ccmux_config_spec, choice_count) + sizeof(size_t);

bool has_specs(const ccmux_plugin_descriptor& d) {
  return d.struct_size >= offsetof(ccmux_plugin_descriptor, config_spec_count) + sizeof d.config_spec_count &&
         d.config_specs && d.config_spec_count;
}

KeySchema from_key(const ccmux_config_key& c) {
  KeySchema k;
  k.name = c.name ? c.name : "";
  k.type = static_cast<ValueType>(c.type);
  k.required = c.required != 0;
  k.help = c.help ? c.help : "";
  return k;
}

// A 1.4 spec: the fields it shares with a 1.0-1.3 key, then default, range and choices.
KeySchema from_spec(const ccmux_config_spec& s) {
  KeySchema k = from_key({s.name, s.type, s.required, s.help});
  if (s.default_value && !k.required) k.default_yaml = s.default_value;
  if (s.has_min) k.min = s.min;
  if (s.has_max) k.max = s.max;
  if (s.choice_count && !s.choices) throw std::invalid_argument("key '" + k.name + "' has choice_count but no choices");
  for (size_t i = 0; i < s.choice_count; ++i) {
    if (!s.choices[i]) throw std::invalid_argument("key '" + k.name + "' has a NULL choice");
    k.choices.push_back(s.choices[i]);
  }
  return k;
}

void check_key(const KeySchema& k, const SectionSchema& so_far) {
  if (k.name.empty()) throw std::invalid_argument("a key has no name");
  if (so_far.find(k.name)) throw std::invalid_argument("key '" + k.name + "' is declared twice");
  if (plugin_entry_schema().find(k.name))
    throw std::invalid_argument("key '" + k.name + "' is the host's own (name, path, search_dir, enabled, required)");
  int t = static_cast<int>(k.type);
  if (t < CCMUX_CFG_STRING || t > CCMUX_CFG_MAP) throw std::invalid_argument("key '" + k.name + "' has an unknown type " + std::to_string(t));
  if (k.min && k.max && *k.min > *k.max) throw std::invalid_argument("key '" + k.name + "' has min > max");
}

}  // namespace

SectionSchema plugin_schema(const std::string& entry_name, const ccmux_plugin_descriptor& d) {
  SectionSchema s;
  s.path = "plugins." + entry_name;
  s.known_label = "plugin " + entry_name + " accepts";
  for (auto& k : plugin_entry_schema().keys) s.ignored.insert(k.name);
  if (has_specs(d)) {
    // One C array: every element has the first one's size, which may be a later SDK's.
    size_t stride = d.config_specs[0].struct_size;
    if (stride < kMinSpecSize) throw std::invalid_argument("config_specs[0].struct_size is smaller than SDK 1.4's");
    for (size_t i = 0; i < d.config_spec_count; ++i) {
      const auto& spec = *reinterpret_cast<const ccmux_config_spec*>(reinterpret_cast<const char*>(d.config_specs) + i * stride);
      KeySchema k = from_spec(spec);
      check_key(k, s);
      s.keys.push_back(std::move(k));
    }
  } else if (d.config_keys) {
    for (size_t i = 0; i < d.config_key_count; ++i) {
      KeySchema k = from_key(d.config_keys[i]);
      check_key(k, s);
      s.keys.push_back(std::move(k));
    }
  }
  if (std::string bad = check_defaults(s); !bad.empty()) throw std::invalid_argument(bad);
  return s;
}

}  // namespace ccmux
