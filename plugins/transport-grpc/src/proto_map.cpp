#include "proto_map.h"

#include <ccmux/json_bounds.hpp>
#include <mbedtls/base64.h>
#include <simdjson.h>

#include <cstring>

namespace ccmux::grpcx {

namespace {

std::string str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
bool flag(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

int64_t i64(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_number()) return 0;
  return it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
}
double f64(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}
std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }
// A JSON member as text, or "" when absent or null.
std::string member_json(const json& j, const char* k) {
  auto it = j.find(k);
  return it == j.end() || it->is_null() ? std::string() : dump(*it);
}

std::string base64(const std::string& in) {
  size_t n = 0;
  mbedtls_base64_encode(nullptr, 0, &n, reinterpret_cast<const unsigned char*>(in.data()), in.size());
  std::string out(n, '\0');
  if (mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                            reinterpret_cast<const unsigned char*>(in.data()), in.size()) != 0)
    throw BadRequest("image too large to encode");
  out.resize(n);  // n excludes the terminating NUL mbedTLS writes
  return out;
}

}  // namespace

void to_proto(const json& j, v1::Session* s) {
  s->set_id(str(j, "id"));
  s->set_state(str(j, "state"));
  s->set_reason(str(j, "reason"));
  s->set_cwd(str(j, "cwd"));
  s->set_model(str(j, "model"));
  s->set_permission_mode(str(j, "permission_mode"));
  s->set_claude_session_id(str(j, "claude_session_id"));
  s->set_created_ms(i64(j, "created_ms"));
  s->set_updated_ms(i64(j, "updated_ms"));
  s->set_last_seq(static_cast<uint64_t>(i64(j, "last_seq")));
  s->set_cost_usd(f64(j, "cost_usd"));
  s->set_input_tokens(i64(j, "input_tokens"));
  s->set_output_tokens(i64(j, "output_tokens"));
  s->set_turns(i64(j, "turns"));
  s->set_pid(i64(j, "pid"));
  s->set_rss_bytes(i64(j, "rss_bytes"));
  s->set_queued_prompts(i64(j, "queued_prompts"));
  s->set_slot_queue_position(i64(j, "slot_queue_position"));
  s->set_pending_approvals(i64(j, "pending_approvals"));
  s->set_repo(str(j, "repo"));
  s->set_worktree(str(j, "worktree"));
  s->set_worktree_name(str(j, "worktree_name"));
  s->set_branch(str(j, "branch"));
  s->set_json(dump(j));
}

void to_proto(const json& j, v1::Approval* a) {
  a->set_id(str(j, "id"));
  a->set_session(str(j, "session"));
  a->set_kind(str(j, "kind"));
  a->set_tool(str(j, "tool"));
  a->set_input(member_json(j, "input"));
  a->set_created_ms(i64(j, "created_ms"));
  a->set_expires_ms(i64(j, "expires_ms"));
  a->set_state(str(j, "state"));
  a->set_decision(str(j, "decision"));
  a->set_decided_by(str(j, "decided_by"));
  a->set_reason(str(j, "reason"));
  a->set_resolved_ms(i64(j, "resolved_ms"));
  a->set_latency_ms(i64(j, "latency_ms"));
  a->set_cwd(str(j, "cwd"));
  a->set_description(str(j, "description"));
  a->set_questions(member_json(j, "questions"));
  a->set_json(dump(j));
}

void to_proto(const json& j, v1::Plugin* p) {
  p->set_name(str(j, "name"));
  p->set_state(str(j, "state"));
  p->set_version(str(j, "version"));
  p->set_sdk(str(j, "sdk"));
  p->set_path(str(j, "path"));
  p->set_error(str(j, "error"));
  if (auto it = j.find("methods"); it != j.end() && it->is_array())
    for (const auto& m : *it)
      if (m.is_string()) p->add_methods(m.get<std::string>());
}

bool parse_event(std::string_view message, v1::Event* out) {
  // The daemon writes {"type":"event","subscription":N,"session":S,"seq":N,"ts":N,"kind":K,
  // "payload":P} (protocol_client.cpp), payload last. `,"payload":` cannot occur inside a
  // JSON string (its quote would be escaped), so its first occurrence is the key: the small
  // head is parsed, and the payload — any size, any depth — is cut out byte for byte.
  static constexpr std::string_view kKey = R"(,"payload":)";
  size_t at = message.find(kKey);
  if (at == std::string_view::npos || message.size() < at + kKey.size() + 2 || message.back() != '}') return false;
  // The head is the daemon's own flat object: simdjson, not a DOM (this runs once per event
  // per stream: nlohmann's map-building parse was a quarter of the loop thread in a replay).
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string head(at + 1);
  std::memcpy(head.data(), message.data(), at);
  head.data()[at] = '}';
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (parser.iterate(head).get(doc) || doc.get_object().get(obj)) return false;
  bool is_event = false, has_seq = false;
  for (auto field : obj) {
    std::string_view key, str;
    uint64_t u = 0;
    int64_t i = 0;
    if (field.unescaped_key().get(key)) return false;
    auto v = field.value();
    if (key == "type") {
      if (v.get_string().get(str) || str != "event") return false;
      is_event = true;
    } else if (key == "session") {
      if (v.get_string().get(str)) return false;
      out->set_session(std::string(str));
    } else if (key == "kind") {
      if (v.get_string().get(str)) return false;
      out->set_kind(std::string(str));
    } else if (key == "seq") {
      if (v.get_uint64().get(u)) return false;
      out->set_seq(u);
      has_seq = true;
    } else if (key == "ts") {
      if (v.get_int64().get(i)) return false;
      out->set_ts_ms(i);
    } else if (key == "subscription") {
      if (v.get_uint64().get(u)) return false;
      out->set_subscription(u);
    }
  }
  if (!is_event || !has_seq) return false;
  std::string_view payload = message.substr(at + kKey.size(), message.size() - at - kKey.size() - 1);
  out->set_payload(payload.data(), payload.size());
  return !payload.empty();
}

ApprovalMessage read_approval_message(std::string_view message, v1::PendingApprovals* pending, v1::Approval* one) {
  json msg = ccmux::sdk::parse_json_bounded(message, nullptr, 1024);
  if (!msg.is_object()) return ApprovalMessage::none;
  std::string type = msg.value("type", "");
  if (type == "approvals") {
    auto p = msg.find("pending");
    if (p == msg.end() || !p->is_array()) return ApprovalMessage::none;
    for (const auto& a : *p) to_proto(a, pending->add_approvals());
    return ApprovalMessage::pending;
  }
  auto a = msg.find("approval");
  if (a == msg.end() || !a->is_object()) return ApprovalMessage::none;
  if (type == "approval_requested") return to_proto(*a, one), ApprovalMessage::requested;
  if (type == "approval_resolved") return to_proto(*a, one), ApprovalMessage::resolved;
  return ApprovalMessage::none;
}

json json_bytes(const std::string& bytes, const char* field, json empty) {
  if (bytes.empty()) return empty;
  // A few levels under the daemon's own limit: the request wraps this value (params,
  // params.prompt, params.updated_input), and a message the daemon finds too deep is answered
  // with an error that carries no request id.
  std::string why;
  json v = ccmux::sdk::parse_json_bounded(bytes, &why, ccmux::sdk::kMaxJsonDepth - 8);
  if (v.is_discarded()) throw BadRequest(std::string("field '") + field + "' must hold one JSON value: " + why);
  return v;
}

json prompt_json(const v1::Prompt& p) {
  if (!p.content_json().empty()) {
    json blocks = json_bytes(p.content_json(), "prompt.content_json");
    if (!blocks.is_array()) throw BadRequest("field 'prompt.content_json' must be a JSON array of content blocks");
    return blocks;
  }
  if (p.images_size() == 0) return p.text();
  json blocks = json::array();
  for (const auto& img : p.images()) {
    if (img.media_type().rfind("image/", 0) != 0)
      throw BadRequest("field 'prompt.images.media_type' must be an image type such as image/png");
    if (img.data().empty()) throw BadRequest("field 'prompt.images.data' is empty");
    blocks.push_back({{"type", "image"},
                      {"source", {{"type", "base64"}, {"media_type", img.media_type()}, {"data", base64(img.data())}}}});
  }
  if (!p.text().empty()) blocks.push_back({{"type", "text"}, {"text", p.text()}});
  return blocks;
}

json answer_params(const v1::AnswerRequest& r) {
  json p{{"id", r.id()}, {"decision", r.decision()}};
  if (!r.reason().empty()) p["reason"] = r.reason();
  if (!r.updated_input().empty()) p["updated_input"] = json_bytes(r.updated_input(), "updated_input");
  if (!r.answers().empty()) {
    json a = json::object();
    for (const auto& [q, label] : r.answers()) a[q] = label;
    p["answers"] = a;
  }
  if (r.interrupt()) p["interrupt"] = true;
  if (!r.by().empty()) p["by"] = r.by();
  return p;
}

json new_session_params(const v1::NewSessionRequest& r) {
  json p{{"cwd", r.cwd()}};
  if (r.has_prompt()) p["prompt"] = prompt_json(r.prompt());
  if (!r.model().empty()) p["model"] = r.model();
  if (!r.permission_mode().empty()) p["permission_mode"] = r.permission_mode();
  if (!r.worktree().empty()) p["worktree"] = r.worktree();
  if (!r.branch().empty()) p["branch"] = r.branch();
  if (!r.from_ref().empty()) p["from"] = r.from_ref();
  return p;
}

void to_proto(const json& j, v1::Worktree* w) {
  w->set_repo(str(j, "repo"));
  w->set_name(str(j, "name"));
  w->set_path(str(j, "path"));
  w->set_branch(str(j, "branch"));
  w->set_head(str(j, "head"));
  w->set_detached(flag(j, "detached"));
  w->set_locked(flag(j, "locked"));
  w->set_prunable(flag(j, "prunable"));
  w->set_managed(flag(j, "managed"));
  w->set_dirty(flag(j, "dirty"));
  w->set_changes(i64(j, "changes"));
  w->set_upstream(str(j, "upstream"));
  w->set_unpushed(i64(j, "unpushed"));
  w->set_session(str(j, "session"));
  w->set_error(str(j, "error"));
}

grpc::StatusCode status_code_for(const std::string& code) {
  if (code == "bad_message" || code == "bad_params" || code == "bad_cwd" || code == "bad_mode" || code == "bad_prompt")
    return grpc::StatusCode::INVALID_ARGUMENT;
  if (code == "forbidden" || code == "cwd_not_allowed") return grpc::StatusCode::PERMISSION_DENIED;
  if (code == "not_found") return grpc::StatusCode::NOT_FOUND;
  if (code == "unknown_method") return grpc::StatusCode::UNIMPLEMENTED;
  if (code == "exists") return grpc::StatusCode::ALREADY_EXISTS;
  // Worktrees: the repository's state refuses it (in use, dirty, unpushed, a git error such as a
  // branch checked out elsewhere), not the request's form.
  if (code == "hello_required" || code == "protocol_mismatch" || code == "unadoptable" || code == "not_a_repository" ||
      code == "git_error" || code == "worktree_conflict" || code == "worktree_dirty" || code == "worktree_unpushed" ||
      code == "worktree_in_use")
    return grpc::StatusCode::FAILED_PRECONDITION;
  if (code == "message_too_large") return grpc::StatusCode::RESOURCE_EXHAUSTED;
  if (code == "claude_error" || code == "unavailable") return grpc::StatusCode::UNAVAILABLE;
  if (code == "unauthenticated") return grpc::StatusCode::UNAUTHENTICATED;
  return grpc::StatusCode::INTERNAL;
}

}  // namespace ccmux::grpcx
