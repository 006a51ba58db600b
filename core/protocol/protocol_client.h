// One client of the versioned JSON protocol (docs/protocol.md), whatever carries it:
// the Unix socket, or a plugin's in-daemon client (remote transports).
#pragma once

#include "daemon/core.h"
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
  void send(const nlohmann::json& msg) { out_(msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)); }
  void on_approval_message(const std::string& msg);
  // This client's subscriptions (subscribe/unsubscribe): ended with it.
  void track_subscription(uint64_t id, const std::string& session);
  void drop_subscriptions(const std::string& session);

  bool ready() const override { return ready_(); }
  void deliver(const EventView& ev) override;
  const std::string& name() const { return name_; }

 private:
  void dispatch(const nlohmann::json& msg);  // may throw; handle() answers
  void request(const nlohmann::json& msg);
  void reply(const nlohmann::json& id, const nlohmann::json& result);
  void error(const nlohmann::json& id, const std::string& code, const std::string& message);

  Core& core_;
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
