#include "protocol/protocol_client.h"

#include "json_bounds.h"
#include "json_fields.h"
#include "protocol/method_registry.h"

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
    : core_(core), id_(core.next_client_id++), name_(std::move(name)), out_(std::move(out)), ready_(std::move(ready)),
      trusted_(trusted) {
  core_.clients.insert(this);
  core_.clients_by_id[id_] = this;
}

ProtocolClient::~ProtocolClient() {
  for (auto& [id, session] : subscriptions_) core_.bus->unsubscribe(id);
  core_.clients.erase(this);
  core_.clients_by_id.erase(id_);
  note_router(ClientNote::gone);  // after the erase: a push the note triggers finds no client
}

void ProtocolClient::routed(bool want_ready) {
  if (core_.router) router_serial_ = core_.router->serial;
  if (want_ready) ready_note_ = true;
}

void ProtocolClient::note_router(ClientNote what) const {
  // Only the router this client was given to hears of it (never one registered later).
  if (router_serial_ && core_.router && core_.router->serial == router_serial_ && core_.router->note)
    core_.router->note(id_, what);
}

void ProtocolClient::push(const std::string& message) { out_(message); }

void ProtocolClient::deliver(const EventView& ev) { out_(event_message(ev, ev.subscription)); }

void ProtocolClient::resume() {
  for (auto& [id, session] : std::map<uint64_t, std::string>(subscriptions_)) core_.bus->resume(id);
  if (ready_note_ && ready()) {
    ready_note_ = false;
    note_router(ClientNote::ready);
  }
}

void ProtocolClient::track_subscription(uint64_t id, const std::string& session) { subscriptions_[id] = session; }

void ProtocolClient::drop_subscriptions(const std::string& session) {
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();)
    if (it->second == session) {
      core_.bus->unsubscribe(it->first);
      it = subscriptions_.erase(it);
    } else {
      ++it;
    }
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
  // Bounded: a deep message parses, but copying or dumping it would overflow the stack.
  std::string why;
  json msg = parse_json_bounded(message, &why);
  if (msg.is_discarded() || !msg.is_object()) {
    bool deep = why.rfind("JSON nested", 0) == 0;
    send({{"type", "error"}, {"code", "bad_message"}, {"message", std::string("each message must be one JSON object") + (deep ? ": " + why : "")}});
    return;
  }
  // Nothing a client sends may escape as an exception: the local socket would take the
  // daemon down with it, and a plugin host would swallow it and leave the client waiting.
  try {
    dispatch(msg);
  } catch (const CommandError& e) {
    send({{"type", "error"}, {"code", e.code}, {"message", e.what()}});
  } catch (const json::exception& e) {
    send({{"type", "error"}, {"code", "bad_message"}, {"message", std::string("malformed message: ") + e.what()}});
  } catch (const std::exception& e) {
    spdlog::error("message from {} failed: {}", name_, e.what());
    send({{"type", "error"}, {"code", "internal"}, {"message", e.what()}});
  }
}

void ProtocolClient::dispatch(const json& msg) {
  Fields f(msg, "field", "bad_message");
  std::string type = f.str("type");
  if (type == "hello") {
    int64_t v = f.integer("protocol", 0);
    bool watch = f.boolean("watch_approvals", false);
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
    watch_approvals_ = watch;
    send({{"type", "hello"}, {"protocol", kProtocolVersion}, {"server", std::string("ccmuxd/") + kVersion}});
    if (watch_approvals_)
      send({{"type", "approvals"}, {"pending", core_.pending_approvals_json()}});  // other machines' too
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
  std::string method;
  try {
    // The envelope first: a wrong one is answered with the request's id, so the client
    // that waits for it hears why.
    method = Fields(msg, "field", "bad_message").str("method");
    if (msg.contains("params") && !msg["params"].is_null() && !msg["params"].is_object())
      throw CommandError("bad_params", "'params' must be an object");
    static const json kNone = json::object();
    const json& params = msg.contains("params") && msg["params"].is_object() ? msg["params"] : kNone;
    std::weak_ptr<int> alive = alive_;
    MethodDone done = [this, id, alive](bool ok, const json& result) {
      if (alive.expired()) return;  // the client went away before the answer
      if (ok) return reply(id, result);
      // Plugins' methods answer too: read their error leniently.
      auto text = [&](const char* key, const char* def) {
        auto it = result.find(key);
        return it != result.end() && it->is_string() ? it->get<std::string>() : std::string(def);
      };
      error(id, text("code", "error"), text("message", "failed"));
    };
    // Addressed to another machine: the router plugin's, before (and instead of) the
    // registry, whose methods the other machine may not share. docs/fleet.md "Addressing".
    RouteDecision where = decide_route(params, core_.router ? &core_.router->local_name : nullptr);
    if (where.kind == RouteDecision::Kind::refused) throw CommandError(where.code, where.message);
    if (where.kind == RouteDecision::Kind::remote) {
      routed();
      core_.router->route(*this, where.target, method, params, done);
      return;
    }
    core_.methods.call(core_, *this, name_, trusted_, method, where.params.is_null() ? params : where.params, done);
  } catch (const CommandError& e) {
    error(id, e.code, e.what());
  } catch (const json::exception& e) {
    // A last resort: typed reads (Fields) name the parameter; this only says what nlohmann saw.
    error(id, "bad_params", std::string("malformed parameters: ") + e.what());
  } catch (const std::exception& e) {
    spdlog::error("request {} from {} failed: {}", method, name_, e.what());
    error(id, "internal", e.what());
  }
}

}  // namespace ccmux
