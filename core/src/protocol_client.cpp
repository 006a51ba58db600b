#include "protocol_client.h"

#include "commands.h"

#include <spdlog/spdlog.h>

namespace ccmux {

using nlohmann::json;

namespace {
bool plain(std::string_view s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/' || c == '.')) return false;
  return true;
}
void append_string(std::string& out, std::string_view s) {
  if (plain(s)) {
    out += '"';
    out += s;
    out += '"';
  } else {
    out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}
}  // namespace

std::string event_message(const EventView& ev, uint64_t subscription) {
  std::string out;
  out.reserve(ev.payload.size() + 128);
  out += R"({"type":"event","subscription":)";
  out += std::to_string(subscription);
  out += R"(,"session":)";
  append_string(out, ev.session);
  out += R"(,"seq":)";
  out += std::to_string(ev.seq);
  out += R"(,"ts":)";
  out += std::to_string(ev.ts_ms);
  out += R"(,"kind":)";
  append_string(out, ev.kind);
  out += R"(,"payload":)";
  out += ev.payload;
  out += '}';
  return out;
}

ProtocolClient::ProtocolClient(Core& core, std::string name, Output out, Ready ready, bool trusted)
    : core_(core), name_(std::move(name)), out_(std::move(out)), ready_(std::move(ready)), trusted_(trusted) {
  core_.clients.insert(this);
}

ProtocolClient::~ProtocolClient() {
  for (auto& [id, session] : subscriptions_) core_.bus->unsubscribe(id);
  core_.clients.erase(this);
}

void ProtocolClient::deliver(const EventView& ev) {
  // Which subscription? A client normally has one per session; "*" ones get live events.
  uint64_t sub = 0;
  for (auto& [id, session] : subscriptions_)
    if (session == ev.session) sub = id;
  if (!sub)
    for (auto& [id, session] : subscriptions_)
      if (session == "*") sub = id;
  out_(event_message(ev, sub));
}

void ProtocolClient::resume() {
  for (auto& [id, session] : std::map<uint64_t, std::string>(subscriptions_)) core_.bus->resume(id);
}

void ProtocolClient::on_approval_message(const std::string& msg) {
  if (watch_approvals_) out_(msg);
}

void ProtocolClient::reply(const json& id, const json& result) {
  send({{"type", "response"}, {"id", id}, {"result", result}});
}

void ProtocolClient::error(const json& id, const std::string& code, const std::string& message) {
  send({{"type", "response"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
}

void ProtocolClient::handle(std::string_view message) {
  json msg = json::parse(message, nullptr, false);
  if (msg.is_discarded() || !msg.is_object()) {
    send({{"type", "error"}, {"code", "bad_message"}, {"message", "each message must be one JSON object"}});
    return;
  }
  std::string type = msg.value("type", "");
  if (type == "hello") {
    int v = msg.value("protocol", 0);
    if (v != kProtocolVersion) {
      std::string side = v > kProtocolVersion ? "upgrade ccmuxd" : "upgrade the client";
      send({{"type", "error"},
            {"code", "protocol_mismatch"},
            {"message", "client speaks protocol " + std::to_string(v) + ", ccmuxd speaks " +
                            std::to_string(kProtocolVersion) + ": " + side},
            {"protocol", kProtocolVersion}});
      return;
    }
    hello_done_ = true;
    watch_approvals_ = msg.value("watch_approvals", false);
    send({{"type", "hello"}, {"protocol", kProtocolVersion}, {"server", std::string("ccmuxd/") + kVersion}});
    if (watch_approvals_)
      send({{"type", "approvals"}, {"pending", core_.approvals->pending_json()}});
    return;
  }
  if (!hello_done_) {
    send({{"type", "error"}, {"code", "hello_required"}, {"message", "send hello with the protocol version first"}});
    return;
  }
  if (type == "request") {
    request(msg);
    return;
  }
  send({{"type", "error"}, {"code", "bad_message"}, {"message", "unknown message type '" + type + "'"}});
}

void ProtocolClient::request(const json& msg) {
  json id = msg.contains("id") ? msg["id"] : json();
  std::string method = msg.value("method", "");
  json params = msg.contains("params") && msg["params"].is_object() ? msg["params"] : json::object();
  try {
    if (method == "subscribe") {
      std::string session = params.value("session", "");
      if (session != "*" && !core_.supervisor->exists(session)) throw CommandError("not_found", "no session " + session);
      uint64_t from = params.value("from_seq", static_cast<uint64_t>(1));
      // Reply first so the client knows the id before the replay arrives.
      uint64_t next_id = 0;
      reply(id, {{"session", session}, {"head", session == "*" ? 0 : core_.bus->head(session)}});
      next_id = core_.bus->subscribe(session, from, this);
      subscriptions_[next_id] = session;
      return;
    }
    if (method == "unsubscribe") {
      std::string session = params.value("session", "");
      for (auto it = subscriptions_.begin(); it != subscriptions_.end();)
        if (it->second == session) {
          core_.bus->unsubscribe(it->first);
          it = subscriptions_.erase(it);
        } else {
          ++it;
        }
      reply(id, json::object());
      return;
    }
    std::weak_ptr<int> alive = alive_;
    run_command(core_, name_, trusted_, method, params, [this, id, alive](bool ok, const json& result) {
      if (alive.expired()) return;  // the client went away before the answer
      if (ok) reply(id, result);
      else error(id, result.value("code", "error"), result.value("message", "failed"));
    });
  } catch (const CommandError& e) {
    error(id, e.code, e.what());
  } catch (const std::exception& e) {
    spdlog::error("request {} from {} failed: {}", method, name_, e.what());
    error(id, "internal", e.what());
  }
}

}  // namespace ccmux
