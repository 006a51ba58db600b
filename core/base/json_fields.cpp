#include "json_fields.h"

#include "errors.h"

namespace ccmux {

using nlohmann::json;

Fields::Fields(const json& obj, std::string what, std::string code)
    : obj_(obj), what_(std::move(what)), code_(std::move(code)) {}

const json* Fields::find(const char* key) const {
  if (!obj_.is_object()) return nullptr;
  auto it = obj_.find(key);
  return it == obj_.end() || it->is_null() ? nullptr : &*it;
}

void Fields::fail(const char* key, const std::string& must) const {
  throw CommandError(code_, what_ + " '" + key + "' must be " + must);
}

bool Fields::has(const char* key) const { return find(key) != nullptr; }

std::string Fields::str(const char* key, const std::string& def) const {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_string()) fail(key, "a string");
  return v->get<std::string>();
}

std::string Fields::required_str(const char* key) const {
  const json* v = find(key);
  if (!v || !v->is_string() || v->get_ref<const std::string&>().empty()) fail(key, "a non-empty string");
  return v->get<std::string>();
}

bool Fields::boolean(const char* key, bool def) const {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_boolean()) fail(key, "true or false");
  return v->get<bool>();
}

int64_t Fields::integer(const char* key, int64_t def, int64_t min, int64_t max) const {
  const json* v = find(key);
  if (!v) return def;
  auto range = [&] {
    std::string r = "an integer";
    if (min != std::numeric_limits<int64_t>::min()) r += " from " + std::to_string(min);
    if (max != std::numeric_limits<int64_t>::max()) r += " to " + std::to_string(max);
    return r;
  };
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();  // non-negative numbers parse as unsigned: the minimum applies too
    if (u > static_cast<uint64_t>(max) || (min > 0 && u < static_cast<uint64_t>(min))) fail(key, range());
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) fail(key, range());
  int64_t i = v->get<int64_t>();
  if (i < min || i > max) fail(key, range());
  return i;
}

double Fields::number(const char* key, double def, double min, double max) const {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_number()) fail(key, "a number");
  double d = v->get<double>();
  if (!(d >= min && d <= max)) fail(key, "a number from " + json(min).dump() + " to " + json(max).dump());
  return d;
}

json Fields::object(const char* key) const {
  const json* v = find(key);
  if (!v) return json::object();
  if (!v->is_object()) fail(key, "an object");
  return *v;
}

json Fields::array(const char* key) const {
  const json* v = find(key);
  if (!v) return json::array();
  if (!v->is_array()) fail(key, "an array");
  return *v;
}

json Fields::any(const char* key) const {
  const json* v = find(key);
  return v ? *v : json();
}

namespace {
const json* lenient(const json& obj, const char* key, bool (json::*is)() const noexcept) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && ((*it).*is)() ? &*it : nullptr;
}
}  // namespace

std::string str_or(const json& obj, const char* key, const std::string& def) {
  const json* v = lenient(obj, key, &json::is_string);
  return v ? v->get<std::string>() : def;
}

json object_or(const json& obj, const char* key) {
  const json* v = lenient(obj, key, &json::is_object);
  return v ? *v : json::object();
}

json array_or(const json& obj, const char* key) {
  const json* v = lenient(obj, key, &json::is_array);
  return v ? *v : json::array();
}

}  // namespace ccmux
