#include "auth_limiter.h"

namespace ccmux::ws {

void AuthLimiter::expire(std::deque<Clock::time_point>& times, Clock::time_point now) const {
  while (!times.empty() && now - times.front() >= window_) times.pop_front();
}

int AuthLimiter::retry_after_s(const std::string& address, Clock::time_point now) {
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

int AuthLimiter::record_failure(const std::string& address, Clock::time_point now) {
  auto& times = failures_[address];
  expire(times, now);
  times.push_back(now);
  // Bounded memory per address: only the newest `max_` failures matter.
  while (static_cast<int>(times.size()) > max_) times.pop_front();
  return static_cast<int>(times.size());
}

}  // namespace ccmux::ws
