#include "api_fields.h"

namespace ccmux::gitlab::fields {

namespace {
[[noreturn]] void bad(const std::string& what, const std::string& why) {
  throw ApiError(ErrorKind::bad_response, 200, what + ": " + why);
}
const json& object(const json& j, const std::string& what) {
  if (!j.is_object()) bad(what, std::string("expected a JSON object, got ") + j.type_name());
  return j;
}
// The member, or nullptr when absent or null.
const json* member(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}
}  // namespace

std::string str(const json& o, const char* key, const std::string& what, bool required) {
  const json* v = member(object(o, what), key);
  if (!v) {
    if (required) bad(what, std::string("field '") + key + "' is missing");
    return {};
  }
  if (!v->is_string()) bad(what, std::string("field '") + key + "' is " + v->type_name() + ", expected a string");
  return v->get<std::string>();
}

int64_t num(const json& o, const char* key, const std::string& what, bool required) {
  const json* v = member(object(o, what), key);
  if (!v) {
    if (required) bad(what, std::string("field '") + key + "' is missing");
    return 0;
  }
  if (v->is_number_integer()) return v->get<int64_t>();  // unsigned beyond int64 wraps: ids never get there
  bad(what, std::string("field '") + key + "' is " + v->type_name() + ", expected an integer");
}

bool flag(const json& o, const char* key, const std::string& what) {
  const json* v = member(object(o, what), key);
  if (!v) return false;
  if (!v->is_boolean()) bad(what, std::string("field '") + key + "' is " + v->type_name() + ", expected true/false");
  return v->get<bool>();
}

const json* array_or_null(const json& o, const char* key, const std::string& what) {
  const json* v = member(object(o, what), key);
  if (v && !v->is_array()) bad(what, std::string("field '") + key + "' is " + v->type_name() + ", expected an array");
  return v;
}

User user(const json& j, const std::string& what) {
  User u;
  u.id = num(j, "id", what, true);
  u.username = str(j, "username", what);
  u.name = str(j, "name", what);
  return u;
}

namespace {
User author_of(const json& j, const std::string& what) {
  const json* a = member(j, "author");
  return a ? user(*a, what + ".author") : User{};
}
}  // namespace

Project project(const json& j, const std::string& what) {
  Project p;
  p.id = num(j, "id", what, true);
  p.path_with_namespace = str(j, "path_with_namespace", what, true);
  p.web_url = str(j, "web_url", what);
  p.default_branch = str(j, "default_branch", what);
  p.http_url_to_repo = str(j, "http_url_to_repo", what);
  p.ssh_url_to_repo = str(j, "ssh_url_to_repo", what);
  return p;
}

MergeRequest merge_request(const json& j, const std::string& what) {
  MergeRequest m;
  m.id = num(j, "id", what);
  m.iid = num(j, "iid", what, true);
  m.project_id = num(j, "project_id", what);
  m.source_project_id = num(j, "source_project_id", what);
  m.target_project_id = num(j, "target_project_id", what);
  m.title = str(j, "title", what);
  m.description = str(j, "description", what);
  m.state = str(j, "state", what);
  m.source_branch = str(j, "source_branch", what);
  m.target_branch = str(j, "target_branch", what);
  m.web_url = str(j, "web_url", what);
  m.sha = str(j, "sha", what);
  m.author = author_of(j, what);
  return m;
}

FileChange file_change(const json& j, const std::string& what) {
  FileChange f;
  f.old_path = str(j, "old_path", what);
  f.new_path = str(j, "new_path", what);
  f.diff = str(j, "diff", what);
  f.new_file = flag(j, "new_file", what);
  f.deleted_file = flag(j, "deleted_file", what);
  f.renamed_file = flag(j, "renamed_file", what);
  return f;
}

Issue issue(const json& j, const std::string& what) {
  Issue i;
  i.id = num(j, "id", what);
  i.iid = num(j, "iid", what, true);
  i.project_id = num(j, "project_id", what);
  i.title = str(j, "title", what);
  i.description = str(j, "description", what);
  i.state = str(j, "state", what);
  i.web_url = str(j, "web_url", what);
  i.author = author_of(j, what);
  return i;
}

Pipeline pipeline(const json& j, const std::string& what) {
  Pipeline p;
  p.id = num(j, "id", what, true);
  p.project_id = num(j, "project_id", what);
  p.status = str(j, "status", what);
  p.ref = str(j, "ref", what);
  p.sha = str(j, "sha", what);
  p.source = str(j, "source", what);
  p.web_url = str(j, "web_url", what);
  p.created_at = str(j, "created_at", what);
  return p;
}

Job job(const json& j, const std::string& what) {
  Job b;
  b.id = num(j, "id", what, true);
  b.name = str(j, "name", what);
  b.stage = str(j, "stage", what);
  b.status = str(j, "status", what);
  b.web_url = str(j, "web_url", what);
  b.allow_failure = flag(j, "allow_failure", what);
  return b;
}

Note note(const json& j, const std::string& what) {
  Note n;
  n.id = num(j, "id", what, true);
  n.body = str(j, "body", what);
  n.system = flag(j, "system", what);
  n.author = author_of(j, what);
  return n;
}

bool member_active(const json& j, const std::string& what, int min_access_level) {
  std::string state = str(j, "state", what);
  return (state.empty() || state == "active") && num(j, "access_level", what) >= min_access_level;
}

}  // namespace ccmux::gitlab::fields
