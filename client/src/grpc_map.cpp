#include "grpc_map.h"

namespace ccmux::client::grpcmap {

using nlohmann::json;

namespace {
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string quoted(const std::string& s) { return dump(json(s)); }

// The approval object as the daemon wrote it; the typed fields only if a server left it out.
std::string approval_json(const v1::Approval& a) {
  if (!a.json().empty() && json::accept(a.json())) return a.json();
  return dump(json{{"id", a.id()}, {"session", a.session()}, {"kind", a.kind()}, {"tool", a.tool()}, {"state", a.state()}});
}
}  // namespace

std::string event_text(const v1::Event& e) {
  // Field order and spelling as event_message: strings JSON-quoted, numbers in decimal.
  std::string out;
  out.reserve(e.payload().size() + 128);
  out += R"({"type":"event","subscription":)";
  out += std::to_string(e.subscription());
  out += R"(,"session":)";
  out += quoted(e.session());
  out += R"(,"seq":)";
  out += std::to_string(e.seq());
  out += R"(,"ts":)";
  out += std::to_string(e.ts_ms());
  out += R"(,"kind":)";
  out += quoted(e.kind());
  out += R"(,"payload":)";
  out += e.payload().empty() ? std::string("null") : e.payload();
  out += '}';
  return out;
}

std::string approval_text(const char* type, const v1::Approval& a) {
  return R"({"approval":)" + approval_json(a) + R"(,"type":)" + quoted(type) + "}";
}

std::string pending_text(const v1::PendingApprovals& p) {
  std::string out = R"({"pending":[)";
  for (int i = 0; i < p.approvals_size(); ++i) {
    if (i) out += ',';
    out += approval_json(p.approvals(i));
  }
  out += R"(],"type":"approvals"})";
  return out;
}

std::string error_response_text(const json& id, const std::string& code, const std::string& message) {
  return dump(json{{"type", "response"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
}

std::string response_text(const json& id, const v1::Reply& r) {
  if (r.has_error()) return error_response_text(id, r.error().code(), r.error().message());
  const std::string& result = r.result_json();
  // Keys sorted as nlohmann writes them: id < result < type. The result's bytes are the
  // daemon's own dump, passed on unchanged (a large sessions.list is not parsed twice).
  if (result.empty()) return R"({"id":)" + dump(id) + R"(,"result":{},"type":"response"})";
  if (!json::accept(result)) return error_response_text(id, "internal", "ccmuxd's reply over gRPC is not JSON");
  return R"({"id":)" + dump(id) + R"(,"result":)" + result + R"(,"type":"response"})";
}

std::string hello_text(int64_t client_protocol, int64_t server_protocol, const std::string& server_version) {
  if (client_protocol != server_protocol) {
    // As the daemon words it (protocol_client.cpp), so the CLI says the same either way.
    std::string side = client_protocol > server_protocol ? "upgrade ccmuxd" : "upgrade the client";
    return dump(json{{"type", "error"},
                     {"code", "protocol_mismatch"},
                     {"message", "client speaks protocol " + std::to_string(client_protocol) + ", ccmuxd speaks " +
                                     std::to_string(server_protocol) + ": " + side},
                     {"protocol", server_protocol}});
  }
  return dump(json{{"type", "hello"}, {"protocol", server_protocol}, {"server", "ccmuxd/" + server_version + " via grpc"}});
}

std::string error_text(const std::string& code, const std::string& message) {
  return dump(json{{"type", "error"}, {"code", code}, {"message", message}});
}

}  // namespace ccmux::client::grpcmap
