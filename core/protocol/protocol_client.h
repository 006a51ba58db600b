// One client of the versioned JSON protocol (docs/protocol.md), whatever carries it:
// the Unix socket, or a plugin's in-daemon client (remote transports).
#pragma once

#include "daemon/core.h"
#include "protocol/router.h"
#include "storage/event_bus.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ccmux {

class ProtocolClient : public EventSink {
 public:
  using Output = std::function<void(const std::string& message)>;  // one JSON object, no newline
  using Ready = std::function<bool()>;

  // `trusted`: a local-socket client (owner of the daemon); plugin clients are not.
  ProtocolClient(Core& core, std::string name, Output out, Ready ready, bool trusted = false);
  ~ProtocolClient() override;

  // One message from the client. Errors are answered, never thrown.
  void handle(std::string_view message);
  // The transport drained its queue: continue paused replays.
  void resume();
  // One message as the router plugin wrote it (SDK 1.6 client_push): one JSON object, no newline.
  void push(const std::string& message);
  void send(const nlohmann::json& msg) { out_(msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)); }
  void on_approval_message(const std::string& msg);
  // This client's subscriptions (subscribe/unsubscribe): ended with it.
  void track_subscription(uint64_t id, const std::string& session);
  void drop_subscriptions(const std::string& session);

  bool ready() const override { return ready_(); }
  void deliver(const EventView& ev) override;
  const std::string& name() const { return name_; }
  uint64_t id() const { return id_; }  // unique in this daemon run (SDK 1.6 router's `client`)
  bool trusted() const { return trusted_; }
  // The router was given this client (a routed request or a push): it hears when the client
  // goes. With `want_ready`, also when its transport drains next (resume()).
  void routed(bool want_ready = false);

 private:
  void dispatch(const nlohmann::json& msg);  // may throw; handle() answers
  void request(const nlohmann::json& msg);
  void reply(const nlohmann::json& id, const nlohmann::json& result);
  void error(const nlohmann::json& id, const std::string& code, const std::string& message);

  void note_router(ClientNote what) const;

  Core& core_;
  uint64_t id_ = 0;
  uint64_t router_serial_ = 0;  // the router this client was given to; 0: none
  bool ready_note_ = false;     // that router waits for this client to drain
  std::string name_;
  Output out_;
  Ready ready_;
  bool trusted_ = false;
  bool hello_done_ = false;
  bool watch_approvals_ = false;
  std::map<uint64_t, std::string> subscriptions_;  // id -> session
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // async replies check it
};

// Serialises an event message without re-encoding the payload bytes.
std::string event_message(const EventView& ev, uint64_t subscription);

}  // namespace ccmux
