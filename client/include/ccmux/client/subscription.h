// One session's events, in seq order, across daemon restarts: when the connection is lost
// the subscription connects again and subscribes from the seq after the last event it
// returned, so nothing is missed and nothing comes twice (the store keeps every event).
#pragma once

#include "ccmux/client/connection.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace ccmux::client {

struct SubscriptionOptions {
  std::string session;
  uint64_t from_seq = 1;
  bool reconnect = true;                          // false: a lost connection throws Disconnected
  int reconnect_attempts = 600;                   // then the last connect error is thrown
  std::chrono::milliseconds retry_interval{1000};  // between attempts (600 x 1 s: ten minutes)
};

struct Event {
  std::string raw;      // the message as the daemon sent it
  nlohmann::json msg;   // parsed: {"type":"event","session","seq","kind","payload",...}
  uint64_t seq = 0;
  std::string kind() const { return msg.value("kind", ""); }
  const nlohmann::json& payload() const { return msg["payload"]; }
};

class Subscription {
 public:
  // Makes a new connection (a reconnect); throws Unreachable when it cannot.
  using Connector = std::function<std::unique_ptr<Connection>()>;
  // `first`: a connection to use first (null: `connect` is called when needed).
  Subscription(Connector connect, std::unique_ptr<Connection> first, SubscriptionOptions o);

  // Subscribes now unless subscribed already; returns the session's head (its last seq) as
  // the daemon reported it then. Throws RequestFailed (no such session, ...).
  uint64_t open();
  // The next event of the session (other messages are skipped); nullopt once the deadline
  // passed. Reconnects as described above.
  std::optional<Event> next(Deadline deadline = kForever);
  // A request on the current connection. When the connection is lost meanwhile, the
  // subscription reconnects and this returns nullopt: the request may or may not have been
  // served (it is not sent again). Throws RequestFailed.
  std::optional<nlohmann::json> request(const std::string& method, const nlohmann::json& params = nlohmann::json::object());
  // Called with the seq the stream resumes at, each time the connection was lost and before
  // reconnecting (to say so, or to forget state tied to the old connection).
  void on_lost(std::function<void(uint64_t resume_at)> f) { on_lost_ = std::move(f); }

  Connection& connection();  // the current one (changes at a reconnect)
  uint64_t head() const { return head_; }
  uint64_t next_seq() const { return from_; }

 private:
  void lost();  // rethrows the current exception unless reconnecting is on
  Connector connect_;
  std::unique_ptr<Connection> conn_;
  SubscriptionOptions opts_;
  uint64_t from_;
  uint64_t head_ = 0;
  bool subscribed_ = false;
  std::function<void(uint64_t)> on_lost_;
};

}  // namespace ccmux::client
