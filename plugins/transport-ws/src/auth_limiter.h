// Failed logins per remote address: past `max_failures` within `window`, the address is
// refused (even with a good token) until its oldest failure leaves the window.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>

namespace ccmux::ws {

class AuthLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  AuthLimiter(int max_failures, std::chrono::seconds window) : max_(max_failures), window_(window) {}

  // Seconds until the address may try again; 0 when it may try now.
  int retry_after_s(const std::string& address, Clock::time_point now = Clock::now());
  // Records a failure; returns the number of failures now inside the window.
  int record_failure(const std::string& address, Clock::time_point now = Clock::now());
  void record_success(const std::string& address) { failures_.erase(address); }
  size_t tracked_addresses() const { return failures_.size(); }

 private:
  void expire(std::deque<Clock::time_point>& times, Clock::time_point now) const;

  int max_;
  std::chrono::seconds window_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace ccmux::ws
