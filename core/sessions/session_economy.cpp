#include "sessions/session_economy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ccmux {

using nlohmann::json;

size_t default_max_live(int64_t mem_total, int64_t reserve, int64_t per_process) {
  if (mem_total <= 0 || per_process <= 0) return 8;
  return static_cast<size_t>(std::max<int64_t>(1, (mem_total - reserve) / per_process));
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

SessionEconomy::SessionEconomy(Clock& clock, EconomyOptions opts, EconomyHost& host, ProcessFactory processes,
                               WarmPool::Spawner warm_spawner, std::function<void()> pool_emptied)
    : clock_(clock), opts_(std::move(opts)), host_(host) {
  opts_.crash_limit = std::max<size_t>(1, opts_.crash_limit);
  pool_ = std::make_unique<WarmPool>(clock_, std::move(processes), opts_.pool, std::move(warm_spawner),
                                     std::move(pool_emptied));
}

SessionEconomy::~SessionEconomy() { cancel_all_restarts(); }

void SessionEconomy::request_start(const std::string& id) {
  if (restart_pending(id)) return;  // the restart starts it
  if (std::find(waiters_.begin(), waiters_.end(), id) != waiters_.end()) return;
  size_t held = host_.processes();
  if (held < opts_.max_live && waiters_.empty()) return host_.admit(id);
  // At the limit: wait in line (visible in ls and on the page) rather than fail or overcommit.
  waiters_.push_back(id);
  host_.queued(id, waiters_.size(), held);
  make_room();
  admit_waiters();
}

size_t SessionEconomy::queue_position(const std::string& id) const {
  auto w = std::find(waiters_.begin(), waiters_.end(), id);
  return w == waiters_.end() ? 0 : static_cast<size_t>(w - waiters_.begin()) + 1;
}

void SessionEconomy::leave_queue(const std::string& id) {
  auto w = std::find(waiters_.begin(), waiters_.end(), id);
  if (w != waiters_.end()) waiters_.erase(w);
}

void SessionEconomy::admit_waiters() {
  while (!waiters_.empty() && host_.processes() < opts_.max_live) {
    std::string id = waiters_.front();
    waiters_.pop_front();
    host_.admit(id);
  }
}

void SessionEconomy::make_room() {
  // Slots that will free up: free ones now plus processes already on their way out.
  size_t held = host_.processes();
  size_t coming = (held < opts_.max_live ? opts_.max_live - held : 0) + host_.exiting();
  while (waiters_.size() > coming) {
    auto candidates = host_.parkable();  // again after each park: that one is on its way out
    auto lru = std::min_element(candidates.begin(), candidates.end(),
                                [](auto& a, auto& b) { return a.last_activity < b.last_activity; });
    if (lru == candidates.end()) return;  // everyone is busy: the waiters wait
    host_.park(lru->id, "parked to make room (claude.max_live " + std::to_string(opts_.max_live) +
                            "); the next prompt resumes it");
    ++coming;
  }
}

void SessionEconomy::park_idle() {
  if (opts_.park_after_s <= 0) return;
  double now = clock_.now();
  for (auto& c : host_.parkable())
    if (now - c.last_activity >= opts_.park_after_s)
      host_.park(c.id, "idle for " + seconds_text(opts_.park_after_s) + " s; the next prompt resumes it");
}

void SessionEconomy::tick() {
  park_idle();
  if (!waiters_.empty()) make_room();
  admit_waiters();
  pool_->maintain(waiters_.empty());  // sessions waiting for a slot come before spare processes
}

SessionEconomy::CrashVerdict SessionEconomy::crashed(const std::string& id) {
  double now = clock_.now();
  auto& times = crashes_[id];
  while (!times.empty() && now - times.front() > opts_.crash_window_s) times.pop_front();
  times.push_back(now);
  CrashVerdict v;
  v.crashes = times.size();
  if (v.crashes >= opts_.crash_limit) {
    v.give_up = true;
    return v;
  }
  // Doubling delays: a claude that dies at start-up (bad flags, broken install) must not
  // spin a core, and one that crashed once comes back almost at once.
  v.restart_in_s =
      std::min(opts_.restart_backoff_max_s, opts_.restart_backoff_s * std::pow(2.0, double(v.crashes - 1)));
  cancel_restart(id);
  restarts_[id] = clock_.add_timer(v.restart_in_s, [this, id] {
    restarts_.erase(id);
    host_.restart_due(id);
  });
  return v;
}

void SessionEconomy::cancel_restart(const std::string& id) {
  auto it = restarts_.find(id);
  if (it == restarts_.end()) return;
  clock_.cancel_timer(it->second);
  restarts_.erase(it);
}

void SessionEconomy::cancel_all_restarts() {
  for (auto& [id, timer] : restarts_) clock_.cancel_timer(timer);
  restarts_.clear();
}

json SessionEconomy::status() const {
  return {{"max_live", opts_.max_live},
          {"live", host_.processes()},
          {"waiting_for_slot", waiters_.size()},
          {"park_after_s", opts_.park_after_s},
          {"warm_pool", pool_->status()}};
}

}  // namespace ccmux
