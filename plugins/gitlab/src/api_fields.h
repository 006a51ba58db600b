// Reading GitLab API answers into the client's structs, defensively: a field of the wrong
// type, or a required one missing, throws ApiError{bad_response} naming it ("merge request:
// field 'iid' is a string, expected an integer"); absent or null optional fields stay empty.
#pragma once

#include "gitlab_api.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ccmux::gitlab::fields {

using nlohmann::json;

std::string str(const json& o, const char* key, const std::string& what, bool required = false);
int64_t num(const json& o, const char* key, const std::string& what, bool required = false);
bool flag(const json& o, const char* key, const std::string& what);
const json* array_or_null(const json& o, const char* key, const std::string& what);

User user(const json& j, const std::string& what);
Project project(const json& j, const std::string& what);
MergeRequest merge_request(const json& j, const std::string& what);
FileChange file_change(const json& j, const std::string& what);
Issue issue(const json& j, const std::string& what);
Pipeline pipeline(const json& j, const std::string& what);
Job job(const json& j, const std::string& what);
Note note(const json& j, const std::string& what);
// A /members/all/:id answer: true when its state is active (or not given) and its
// access_level is at least `min_access_level` (GitLab's levels: 10 Guest, 20 Reporter,
// 30 Developer, 40 Maintainer, 50 Owner; a missing level counts as none).
bool member_active(const json& j, const std::string& what, int min_access_level);

template <class T>
std::vector<T> list(const json& j, const std::string& what, T (*read)(const json&, const std::string&)) {
  if (!j.is_array()) throw ApiError(ErrorKind::bad_response, 200, what + ": expected a JSON array, got " + j.type_name());
  std::vector<T> out;
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) out.push_back(read(j[i], what + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace ccmux::gitlab::fields
