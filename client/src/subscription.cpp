#include "ccmux/client/subscription.h"

#include <thread>

namespace ccmux::client {

using nlohmann::json;

Subscription::Subscription(Connector connect, std::unique_ptr<Connection> first, SubscriptionOptions o)
    : connect_(std::move(connect)), conn_(std::move(first)), opts_(std::move(o)), from_(opts_.from_seq) {}

Connection& Subscription::connection() {
  if (!conn_) conn_ = connect_();
  return *conn_;
}

uint64_t Subscription::open() {
  for (;;) {
    if (subscribed_) return head_;
    Connection& c = connection();  // a first connection that fails is the caller's error, not a loss
    try {
      json sub = c.request("subscribe", {{"session", opts_.session}, {"from_seq", from_}});
      head_ = sub.value("head", uint64_t{0});
      subscribed_ = true;
    } catch (const Unreachable&) {
      lost();
    }
  }
}

std::optional<Event> Subscription::next(Deadline deadline) {
  for (;;) {
    open();
    try {
      auto line = conn_->next_raw(deadline);
      if (!line) return std::nullopt;
      json msg = json::parse(*line, nullptr, false);
      if (!msg.is_object() || msg.value("type", "") != "event" || msg.value("session", "") != opts_.session) continue;
      uint64_t seq = msg.value("seq", from_);
      from_ = seq + 1;  // where a reconnect resumes
      return Event{std::move(*line), std::move(msg), seq};
    } catch (const Unreachable&) {
      lost();
    }
  }
}

std::optional<json> Subscription::request(const std::string& method, const json& params) {
  Connection& c = connection();
  try {
    return c.request(method, params);
  } catch (const Unreachable&) {
    lost();
    return std::nullopt;
  }
}

void Subscription::lost() {
  if (!opts_.reconnect) throw;
  if (on_lost_) on_lost_(from_);
  conn_.reset();
  subscribed_ = false;
  for (int attempt = 0; !conn_; ++attempt) {
    try {
      conn_ = connect_();
    } catch (const Unreachable&) {
      if (attempt >= opts_.reconnect_attempts) throw;
      std::this_thread::sleep_for(opts_.retry_interval);
    }
  }
}

}  // namespace ccmux::client
