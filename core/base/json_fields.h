// Typed reads of client-supplied JSON (protocol messages, request params, hook input).
// nlohmann's `value(key, default)` throws type_error.302 when the field has another
// type; these name the field and the type instead, as a CommandError the caller answers.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace ccmux {

class Fields {
 public:
  // `what`: how errors name a field ("parameter", "field"); `code`: the error code.
  explicit Fields(const nlohmann::json& obj, std::string what = "parameter", std::string code = "bad_params");

  bool has(const char* key) const;  // present and not null
  std::string str(const char* key, const std::string& def = "") const;
  // A present, non-empty string.
  std::string required_str(const char* key) const;
  bool boolean(const char* key, bool def) const;
  int64_t integer(const char* key, int64_t def, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const;
  double number(const char* key, double def, double min, double max) const;
  // Objects and arrays: the value (an empty object/array when absent or null).
  nlohmann::json object(const char* key) const;
  nlohmann::json array(const char* key) const;
  // Any JSON value (null when absent).
  nlohmann::json any(const char* key) const;

  [[noreturn]] void fail(const char* key, const std::string& must) const;

 private:
  const nlohmann::json* find(const char* key) const;
  const nlohmann::json& obj_;
  std::string what_, code_;
};

// Lenient reads for JSON we must not fail on (claude's lines, plugin answers): the field
// when it has the type, else the default. Never throw, whatever `obj` is.
std::string str_or(const nlohmann::json& obj, const char* key, const std::string& def = "");
nlohmann::json object_or(const nlohmann::json& obj, const char* key);  // {} otherwise
nlohmann::json array_or(const nlohmann::json& obj, const char* key);   // [] otherwise

}  // namespace ccmux
