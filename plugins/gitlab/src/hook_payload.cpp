#include "hook_payload.h"

#include "utf8_text.h"

#include <ccmux/json_bounds.hpp>

namespace ccmux::gitlab {

using nlohmann::json;

namespace {

// Thrown inside this file only; the public functions turn it into Parsed::error.
struct Bad {
  std::string why;
};

std::string join(const std::string& at, const char* key) { return at.empty() ? key : at + "." + key; }

// Typed reads of one object, naming the field on error ("merge_request.iid: expected an integer, got string").
class Obj {
 public:
  Obj(const json& j, std::string at) : j_(j), at_(std::move(at)) {
    if (!j_.is_object()) throw Bad{(at_.empty() ? "payload" : at_) + ": expected an object, got " + j_.type_name()};
  }
  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string str(const char* key, bool required = false) const {
    const json* v = find(key);
    if (!v) {
      if (required) throw Bad{join(at_, key) + ": missing"};
      return {};
    }
    if (!v->is_string()) throw Bad{join(at_, key) + ": expected a string, got " + v->type_name()};
    const std::string& s = v->get_ref<const std::string&>();
    if (required && s.empty()) throw Bad{join(at_, key) + ": empty"};
    return utf8::prefix(s, kMaxHookString);  // cut between characters: the text goes into JSON again
  }
  int64_t num(const char* key, bool required = false) const {
    const json* v = find(key);
    if (!v) {
      if (required) throw Bad{join(at_, key) + ": missing"};
      return 0;
    }
    if (!v->is_number_integer()) throw Bad{join(at_, key) + ": expected an integer, got " + v->type_name()};
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      throw Bad{join(at_, key) + ": integer out of range"};
    return v->get<int64_t>();
  }
  bool flag(const char* key) const {
    const json* v = find(key);
    if (!v) return false;
    if (!v->is_boolean()) throw Bad{join(at_, key) + ": expected true/false, got " + v->type_name()};
    return v->get<bool>();
  }
  // A nested object (nullopt when absent or null).
  std::optional<Obj> obj(const char* key, bool required = false) const {
    const json* v = find(key);
    if (!v) {
      if (required) throw Bad{join(at_, key) + ": missing"};
      return std::nullopt;
    }
    return Obj(*v, join(at_, key));
  }
  const json* array(const char* key) const {
    const json* v = find(key);
    if (v && !v->is_array()) throw Bad{join(at_, key) + ": expected an array, got " + v->type_name()};
    return v;
  }
  const std::string& at() const { return at_; }

 private:
  const json& j_;
  std::string at_;
};

HookUser read_user(const Obj& o, bool required) {
  HookUser u;
  u.id = o.num("id", required);
  u.username = o.str("username", required);
  u.name = o.str("name");
  return u;
}

HookProject read_project(const Obj& o) {
  HookProject p;
  p.id = o.num("id", true);
  p.path_with_namespace = o.str("path_with_namespace", true);
  p.web_url = o.str("web_url");
  p.default_branch = o.str("default_branch");
  p.git_http_url = o.str("git_http_url");
  p.git_ssh_url = o.str("git_ssh_url");
  return p;
}

HookMergeRequest read_mr(const Obj& o) {
  HookMergeRequest m;
  m.id = o.num("id");
  m.iid = o.num("iid", true);
  m.source_project_id = o.num("source_project_id");
  m.target_project_id = o.num("target_project_id");
  m.title = o.str("title");
  m.description = o.str("description");
  m.state = o.str("state");
  m.source_branch = o.str("source_branch");
  m.target_branch = o.str("target_branch");
  m.url = o.str("url");
  if (auto last = o.obj("last_commit")) m.last_commit_sha = last->str("id");
  return m;
}

HookIssue read_issue(const Obj& o) {
  HookIssue i;
  i.id = o.num("id");
  i.iid = o.num("iid", true);
  i.title = o.str("title");
  i.description = o.str("description");
  i.state = o.str("state");
  i.url = o.str("url");
  return i;
}

void expect_kind(const Obj& root, const char* kind) {
  std::string k = root.str("object_kind", true);
  if (k != kind) throw Bad{"object_kind is '" + utf8::prefix(k, 40) + "', expected '" + kind + "'"};
}

NoteEvent read_note(const json& payload) {
  Obj root(payload, "");
  expect_kind(root, "note");
  NoteEvent e;
  e.user = read_user(*root.obj("user", true), true);
  e.project = read_project(*root.obj("project", true));
  Obj attrs = *root.obj("object_attributes", true);
  e.note_id = attrs.num("id", true);
  e.note = attrs.str("note", true);
  e.noteable_type = attrs.str("noteable_type", true);
  e.url = attrs.str("url");
  e.created_at = attrs.str("created_at");
  e.system = attrs.flag("system");
  if (e.noteable_type == "MergeRequest") e.merge_request = read_mr(*root.obj("merge_request", true));
  else if (e.noteable_type == "Issue") e.issue = read_issue(*root.obj("issue", true));
  return e;
}

PipelineEvent read_pipeline(const json& payload) {
  Obj root(payload, "");
  expect_kind(root, "pipeline");
  PipelineEvent e;
  if (auto user = root.obj("user")) e.user = read_user(*user, false);
  e.project = read_project(*root.obj("project", true));
  Obj attrs = *root.obj("object_attributes", true);
  e.pipeline_id = attrs.num("id", true);
  e.status = attrs.str("status", true);
  e.ref = attrs.str("ref");
  e.sha = attrs.str("sha");
  e.source = attrs.str("source");
  e.url = attrs.str("url");
  e.tag = attrs.flag("tag");
  if (auto mr = root.obj("merge_request")) e.merge_request = read_mr(*mr);
  if (const json* builds = root.array("builds")) {
    if (builds->size() > kMaxHookBuilds)
      throw Bad{"builds: " + std::to_string(builds->size()) + " entries, more than " + std::to_string(kMaxHookBuilds)};
    for (size_t i = 0; i < builds->size(); ++i) {
      Obj b((*builds)[i], "builds[" + std::to_string(i) + "]");
      HookBuild hb;
      hb.id = b.num("id", true);
      hb.name = b.str("name");
      hb.stage = b.str("stage");
      hb.status = b.str("status");
      hb.failure_reason = b.str("failure_reason");
      hb.allow_failure = b.flag("allow_failure");
      e.builds.push_back(std::move(hb));
    }
  }
  return e;
}

// Runs `read`, turning every failure (ours, nlohmann's, out of memory) into an error string.
template <class T, class F>
Parsed<T> guarded(F&& read) noexcept {
  Parsed<T> out;
  try {
    out.value = read();
  } catch (const Bad& b) {
    out.error = b.why;
  } catch (const std::exception& e) {
    out.error = std::string("unreadable payload: ") + e.what();
  } catch (...) {
    out.error = "unreadable payload";
  }
  return out;
}

}  // namespace

Parsed<NoteEvent> parse_note_hook(const json& payload) noexcept {
  return guarded<NoteEvent>([&] { return read_note(payload); });
}

Parsed<PipelineEvent> parse_pipeline_hook(const json& payload) noexcept {
  return guarded<PipelineEvent>([&] { return read_pipeline(payload); });
}

Parsed<HookEvent> parse_hook(const json& payload) noexcept {
  return guarded<HookEvent>([&]() -> HookEvent {
    std::string kind = Obj(payload, "").str("object_kind", true);
    if (kind == "note") return read_note(payload);
    if (kind == "pipeline") return read_pipeline(payload);
    std::string shown;
    for (char c : kind.substr(0, 40)) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    throw Bad{"unsupported object_kind '" + shown + "' (only note and pipeline)"};
  });
}

Parsed<HookEvent> parse_hook_text(std::string_view body, size_t max_bytes) noexcept {
  if (body.size() > max_bytes)
    return {std::nullopt, "payload of " + std::to_string(body.size()) + " bytes is over " + std::to_string(max_bytes)};
  std::string why;
  json j;
  try {
    j = ccmux::sdk::parse_json_bounded(body, &why, 64);
  } catch (...) {
    return {std::nullopt, "unreadable payload"};
  }
  if (j.is_discarded()) return {std::nullopt, "payload is not JSON: " + why};
  return parse_hook(j);
}

}  // namespace ccmux::gitlab
