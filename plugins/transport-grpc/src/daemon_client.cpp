#include "daemon_client.h"

namespace ccmux::grpcx {

using nlohmann::json;

uint64_t ClientFactory::open(const std::string& name, ccmux::Host::MessageHandler on_message) {
  std::lock_guard lock(mu_);
  return host_.open_client(name, std::move(on_message));
}

void ClientFactory::close_later(uint64_t id) {
  host_.post([this, id] {
    std::lock_guard lock(mu_);
    host_.close_client(id);
  });
}

std::shared_ptr<DaemonClient> DaemonClient::open(ClientFactory& factory, const std::string& name,
                                                 bool watch_approvals, Sink sink) {
  std::shared_ptr<DaemonClient> c(new DaemonClient(factory, std::move(sink)));
  std::weak_ptr<DaemonClient> weak = c;
  uint64_t id = factory.open(name, [weak](std::string_view m) {
    if (auto self = weak.lock()) self->on_message(m);
  });
  if (!id) return nullptr;  // the plugin is stopping
  c->id_ = id;
  json hello{{"type", "hello"}, {"protocol", 1}, {"client", "transport-grpc"}, {"watch_approvals", watch_approvals}};
  factory.host().client_send(id, hello.dump());
  return c;
}

DaemonClient::~DaemonClient() { close(); }

bool DaemonClient::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool DaemonClient::call(const std::string& method, const json& params, Reply reply) {
  uint64_t rid;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    rid = next_request_++;
    pending_.emplace(rid, std::move(reply));
  }
  json req{{"type", "request"}, {"id", rid}, {"method", method}, {"params", params}};
  if (!factory_.host().client_send(id_, req.dump(-1, ' ', false, json::error_handler_t::replace))) {
    Reply r;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(rid);
      if (it == pending_.end()) return false;
      r = std::move(it->second);
      pending_.erase(it);
    }
    ProtocolError e{"unavailable", "ccmuxd is not taking requests (stopping?)"};
    r(nullptr, &e);
  }
  return true;
}

void DaemonClient::set_ready(bool ready) {
  std::lock_guard lock(mu_);
  if (!closed_) factory_.host().client_set_ready(id_, ready);
}

void DaemonClient::close(const std::string& why) {
  std::unordered_map<uint64_t, Reply> orphans;
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    orphans.swap(pending_);
    id = id_;
  }
  if (id) factory_.close_later(id);
  ProtocolError e{"unavailable", why};
  for (auto& [_, r] : orphans) r(nullptr, &e);
}

void DaemonClient::on_message(std::string_view m) {
  // Events are most of the traffic and go to the sink unparsed.
  if (m.rfind(R"({"type":"event")", 0) == 0) {
    if (sink_) sink_(m);
    return;
  }
  json msg = ccmux::sdk::parse_json_bounded(m, nullptr, kDaemonJsonDepth);
  if (!msg.is_object()) return;
  std::string type = msg.value("type", "");
  if (type == "response") {
    auto idv = msg.find("id");
    if (idv == msg.end() || !idv->is_number_unsigned()) return;
    Reply r;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(idv->get<uint64_t>());
      if (it == pending_.end()) return;
      r = std::move(it->second);
      pending_.erase(it);
    }
    if (auto err = msg.find("error"); err != msg.end() && err->is_object()) {
      ProtocolError e{err->value("code", "internal"), err->value("message", "")};
      r(nullptr, &e);
    } else {
      static const json kEmpty = json::object();
      auto res = msg.find("result");
      r(res != msg.end() ? &*res : &kEmpty, nullptr);
    }
    return;
  }
  if (type == "hello") return;
  if (type == "error") {  // not an answer to a request: nothing waits for it, but say so
    factory_.host().warn("transport-grpc: ccmuxd refused a message: " + msg.value("code", "?") + ": " +
                         msg.value("message", ""));
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
  }
  if (sink_) sink_(m);
}

}  // namespace ccmux::grpcx
