// For transports: failed logins per remote address. Past `max_failures` within `window`, the
// address is refused (even with good credentials) until its oldest failure leaves the
// window. Header-only, no locking (the caller serialises), bounded memory per address.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>

namespace ccmux {

class AuthLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  AuthLimiter(int max_failures, std::chrono::seconds window) : max_(max_failures), window_(window) {}

  // Seconds until the address may try again; 0 when it may try now.
  int retry_after_s(const std::string& address, Clock::time_point now = Clock::now()) {
    auto it = failures_.find(address);
    if (it == failures_.end()) return 0;
    expire(it->second, now);
    if (it->second.empty()) {
      failures_.erase(it);
      return 0;
    }
    if (static_cast<int>(it->second.size()) < max_) return 0;
    auto wait = std::chrono::ceil<std::chrono::seconds>(it->second.front() + window_ - now).count();
    return wait > 0 ? static_cast<int>(wait) : 1;
  }
  // Records a failure; returns the number of failures now inside the window.
  int record_failure(const std::string& address, Clock::time_point now = Clock::now()) {
    auto& times = failures_[address];
    expire(times, now);
    times.push_back(now);
    // Only the newest `max_` failures matter.
    while (static_cast<int>(times.size()) > max_) times.pop_front();
    return static_cast<int>(times.size());
  }
  void record_success(const std::string& address) { failures_.erase(address); }
  size_t tracked_addresses() const { return failures_.size(); }

 private:
  void expire(std::deque<Clock::time_point>& times, Clock::time_point now) const {
    while (!times.empty() && now - times.front() >= window_) times.pop_front();
  }

  int max_;
  std::chrono::seconds window_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace ccmux
