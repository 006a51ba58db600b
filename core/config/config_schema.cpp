#include "config/config_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace ccmux {

using nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Bounds as people write them: 65535, 0.9, 16777216 (not 1.67772e+07).
std::string number_text(double d) {
  char b[64];
  if (std::floor(d) == d && std::fabs(d) < 1e15) std::snprintf(b, sizeof b, "%.0f", d);
  else std::snprintf(b, sizeof b, "%.15g", d);
  return b;
}

std::string scalar(const YAML::Node& n, const std::string& file, const std::string& path, const char* expected) {
  if (!n.IsScalar()) config_fail(file, n.Mark(), path, std::string("expected ") + expected);
  return n.Scalar();
}

void check_choice(const KeySchema& k, const std::string& v, const YAML::Node& n, const std::string& file,
                  const std::string& path) {
  if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), v) == k.choices.end())
    config_fail(file, n.Mark(), path, "bad value '" + v + "' (expected one of: " + join(k.choices) + ")");
}

void check_range(const KeySchema& k, double v, const std::string& text, const YAML::Node& n, const std::string& file,
                 const std::string& path) {
  if ((!k.min || v >= *k.min) && (!k.max || v <= *k.max)) return;
  std::string msg = k.range_message;
  if (msg.empty()) {
    if (k.min && k.max) msg = "must be from " + number_text(*k.min) + " to " + number_text(*k.max) + ", got {got}";
    else if (k.min) msg = "must be at least " + number_text(*k.min) + ", got {got}";
    else msg = "must be at most " + number_text(*k.max) + ", got {got}";
  }
  if (auto at = msg.find("{got}"); at != std::string::npos) msg.replace(at, 5, text);
  config_fail(file, n.Mark(), path, msg);
}

// Numbers parse whole (no "10s", no "0x10") and finite. A key whose range starts at 0 or above
// asks for "a non-negative" one when the text is no number (and, starting at 0 exactly, when it
// is negative); other values out of range get the range message.
json read_integer(const KeySchema& k, const YAML::Node& n, const std::string& file, const std::string& path) {
  bool non_negative = k.min && *k.min >= 0;
  const char* noun = non_negative ? "a non-negative integer" : "an integer";
  std::string s = scalar(n, file, path, "an integer");
  long long v = 0;
  try {
    size_t used = 0;
    v = std::stoll(s, &used);
    if (used != s.size() || (v < 0 && k.min == 0.0)) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    config_fail(file, n.Mark(), path, std::string("expected ") + noun + ", got '" + s + "'");
  }
  check_range(k, static_cast<double>(v), s, n, file, path);
  return static_cast<int64_t>(v);
}

json read_number(const KeySchema& k, const YAML::Node& n, const std::string& file, const std::string& path) {
  bool non_negative = k.min && *k.min >= 0;
  const char* noun = non_negative ? "a non-negative number" : "a number";
  std::string s = scalar(n, file, path, "a number");
  double d = 0;
  try {
    size_t used = 0;
    d = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(d) || (d < 0 && k.min == 0.0)) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    config_fail(file, n.Mark(), path, std::string("expected ") + noun + ", got '" + s + "'");
  }
  check_range(k, d, s, n, file, path);
  return d;
}

json read_boolean(const YAML::Node& n, const std::string& file, const std::string& path) {
  std::string s = scalar(n, file, path, "true or false");
  bool b = false;
  if (!YAML::convert<bool>::decode(n, b)) config_fail(file, n.Mark(), path, "expected true or false, got '" + s + "'");
  return b;
}

// A declared default, checked like a value; a bad one is the declaration's fault, said so.
json default_of(const KeySchema& k, const std::string& path) {
  try {
    return validate_value(k, YAML::Load(*k.default_yaml), "", path);
  } catch (const std::exception& e) {  // ConfigError, or YAML that does not parse
    std::string what = e.what();
    if (auto at = what.find("': "); at != std::string::npos) what = what.substr(at + 3);  // without ":0:0: key '…'"
    throw std::invalid_argument("the default of key '" + k.name + "' ('" + *k.default_yaml + "') is invalid: " + what);
  }
}

std::vector<std::string> names_of(const SectionSchema& s) {
  std::vector<std::string> v;
  for (auto& k : s.keys) v.push_back(k.name);
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

const KeySchema* SectionSchema::find(const std::string& name) const {
  for (auto& k : keys)
    if (k.name == name) return &k;
  return nullptr;
}

void config_fail(const std::string& file, const YAML::Mark& m, const std::string& key, const std::string& what) {
  std::ostringstream os;
  os << file << ":" << (m.is_null() ? 0 : m.line + 1) << ":" << (m.is_null() ? 0 : m.column + 1) << ": ";
  if (!key.empty()) os << "key '" << key << "': ";
  os << what;
  throw ConfigError(os.str());
}

json validate_value(const KeySchema& k, const YAML::Node& n, const std::string& file, const std::string& path) {
  switch (k.type) {
    case ValueType::string: {
      std::string v = scalar(n, file, path, "a string");
      check_choice(k, v, n, file, path);
      return v;
    }
    case ValueType::integer: return read_integer(k, n, file, path);
    case ValueType::number: return read_number(k, n, file, path);
    case ValueType::boolean: return read_boolean(n, file, path);
    case ValueType::string_list: {
      if (!n.IsSequence()) config_fail(file, n.Mark(), path, "expected a list of strings");
      json arr = json::array();
      for (const auto& item : n) {
        std::string v = scalar(item, file, path, "a string in the list");
        check_choice(k, v, item, file, path);
        arr.push_back(v);
      }
      return arr;
    }
    case ValueType::string_map: {
      if (!n.IsMap()) config_fail(file, n.Mark(), path, "expected a map of strings");
      json obj = json::object();
      for (const auto& kv : n) obj[kv.first.Scalar()] = scalar(kv.second, file, path + "." + kv.first.Scalar(), "a string");
      return obj;
    }
  }
  config_fail(file, n.Mark(), path, "has an unknown type");  // a declaration the host does not know
}

json validate_section(const SectionSchema& s, const YAML::Node& section, const std::string& file) {
  json out = json::object();
  bool present = section.IsDefined() && !section.IsNull();
  if (present && !section.IsMap()) config_fail(file, section.Mark(), s.path, "expected a map");
  if (present) {
    for (const auto& item : section) {
      const std::string key = item.first.Scalar();
      if (s.ignored.count(key)) continue;
      const KeySchema* k = s.find(key);
      if (!k) {
        if (s.allow_unknown) continue;
        auto known = names_of(s);
        config_fail(file, item.first.Mark(), s.path + "." + key,
                    "unknown key (" + s.known_label + ": " + (known.empty() ? "no keys" : join(known)) + ")");
      }
      out[key] = validate_value(*k, item.second, file, s.path + "." + key);
    }
  }
  for (const auto& k : s.keys) {
    if (out.contains(k.name)) continue;
    if (k.required)
      config_fail(file, present ? section.Mark() : YAML::Mark::null_mark(), s.path + "." + k.name,
                  "missing required key" + (k.help.empty() ? std::string() : " (" + k.help + ")"));
    if (k.default_yaml) out[k.name] = default_of(k, s.path + "." + k.name);
  }
  return out;
}

std::string check_defaults(const SectionSchema& s) {
  for (const auto& k : s.keys) {
    if (!k.default_yaml) continue;
    try {
      default_of(k, s.path + "." + k.name);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
  }
  return "";
}

}  // namespace ccmux
