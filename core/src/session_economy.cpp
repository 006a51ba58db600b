// The session economy half of the Supervisor: one gate for every claude start (live limit and
// its queue), parking idle sessions, restarting crashed ones with backoff, and the periodic
// tick that notices hangs and idle time. The warm pool itself is in warm_pool.cpp.
#include "supervisor.h"

#include "util.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <csignal>

namespace ccmux {

using nlohmann::json;

namespace {
std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}
}  // namespace

size_t default_max_live(int64_t mem_total, int64_t reserve, int64_t per_process) {
  if (mem_total <= 0 || per_process <= 0) return 8;
  return static_cast<size_t>(std::max<int64_t>(1, (mem_total - reserve) / per_process));
}

size_t Supervisor::processes() const {
  size_t n = 0;
  for (auto& [id, s] : sessions_) n += s->proc ? 1 : 0;
  return n;
}

void Supervisor::start_process(Session& s) {
  if (s.proc || s.restart_timer) return;  // running, exiting (its exit restarts it) or a restart is due
  if (std::find(slot_waiters_.begin(), slot_waiters_.end(), s.row.id) != slot_waiters_.end()) return;
  size_t held = processes();
  if (held < opts_.max_live && slot_waiters_.empty()) return spawn(s);
  // At the limit: wait in line (visible in ls and on the page) rather than fail or overcommit.
  slot_waiters_.push_back(s.row.id);
  std::string why = "waiting for a free claude slot (" + std::to_string(held) + " live, claude.max_live " +
                    std::to_string(opts_.max_live) + ")";
  set_state(s, "queued", why);
  host_event(s, "session_queued", {{"position", slot_waiters_.size()}, {"live", held}, {"max_live", opts_.max_live}});
  make_room();
  admit_waiters();
}

void Supervisor::on_crash(Session& s, json info, const std::string& reason) {
  double now = monotonic_s();
  while (!s.crashes.empty() && now - s.crashes.front() > opts_.crash_window_s) s.crashes.pop_front();
  s.crashes.push_back(now);
  size_t n = s.crashes.size();
  info["crashes"] = n;
  if (n >= opts_.crash_limit) {
    std::string why = "gave up after " + std::to_string(n) + (n == 1 ? " crash" : " crashes") + " in " +
                      seconds(opts_.crash_window_s) + " s; last: " + reason;
    info["gave_up"] = true;
    info["reason"] = why;
    host_event(s, "session_failed", info);
    set_state(s, "failed", why);
    spdlog::warn("session {}: {}", s.row.id, why);
    return;
  }
  // Doubling delays: a claude that dies at start-up (bad flags, broken install) must not
  // spin a core, and one that crashed once comes back almost at once.
  double delay = std::min(opts_.restart_backoff_max_s, opts_.restart_backoff_s * std::pow(2.0, double(n - 1)));
  info["restart_in_s"] = delay;
  host_event(s, "session_crashed", info);
  set_state(s, "restarting", reason + "; restarting in " + seconds(delay) + " s (crash " + std::to_string(n) + " of " +
                                 std::to_string(opts_.crash_limit) + " allowed in " + seconds(opts_.crash_window_s) + " s)");
  spdlog::warn("session {}: {}; restarting in {} s", s.row.id, reason, delay);
  std::string id = s.row.id;
  s.restart_timer = loop_.add_timer(delay, [this, id] {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    it->second->restart_timer = 0;
    if (it->second->row.state == "restarting") start_process(*it->second);
  });
}

bool Supervisor::parkable(const Session& s) const {
  return s.proc && s.proc->running() && s.initialized && !s.turn_running && !s.stop_requested && s.controls.empty() &&
         !approvals_.has_pending(s.row.id) && !has_queued_prompts(s.row.id);
}

void Supervisor::park(Session& s, const std::string& reason) {
  spdlog::info("session {}: parking claude pid {} ({})", s.row.id, s.proc->pid(), reason);
  s.park_requested = true;
  s.park_reason = reason;
  close_gracefully(s);
}

void Supervisor::park_idle() {
  if (opts_.park_after_s <= 0) return;
  double now = monotonic_s();
  for (auto& [id, s] : sessions_)
    if (parkable(*s) && now - s->last_activity >= opts_.park_after_s)
      park(*s, "idle for " + seconds(opts_.park_after_s) + " s; the next prompt resumes it");
}

void Supervisor::make_room() {
  // Slots that will free up: free ones now plus processes already on their way out.
  size_t exiting = 0;
  for (auto& [id, s] : sessions_) exiting += s->proc && s->stop_requested ? 1 : 0;
  size_t held = processes();
  size_t coming = (held < opts_.max_live ? opts_.max_live - held : 0) + exiting;
  while (slot_waiters_.size() > coming) {
    Session* lru = nullptr;
    for (auto& [id, s] : sessions_)
      if (parkable(*s) && (!lru || s->last_activity < lru->last_activity)) lru = s.get();
    if (!lru) return;  // everyone is busy: the waiters wait
    park(*lru, "parked to make room (claude.max_live " + std::to_string(opts_.max_live) +
                   "); the next prompt resumes it");
    ++coming;
  }
}

void Supervisor::admit_waiters() {
  while (!slot_waiters_.empty() && processes() < opts_.max_live) {
    std::string id = slot_waiters_.front();
    slot_waiters_.pop_front();
    auto it = sessions_.find(id);
    if (it != sessions_.end() && !it->second->proc) spawn(*it->second);
  }
}

void Supervisor::tick() {
  check_hangs();
  if (shutdown_done_) return;
  park_idle();
  if (!slot_waiters_.empty()) make_room();
  admit_waiters();
  pool_->maintain(slot_waiters_.empty());  // sessions waiting for a slot come before spare processes
}

void Supervisor::check_hangs() {
  double now = monotonic_s();
  for (auto& [id, s] : sessions_) {
    if (s->proc && s->proc->running() && !s->initialized && !s->stop_requested && s->fail_reason.empty() &&
        opts_.start_timeout_s > 0 && now - s->started_at >= opts_.start_timeout_s) {
      // It never became ready (stuck at start-up, not reading stdin, a SessionStart hook that hangs).
      s->fail_reason = "start timeout: claude did not answer initialize within " + seconds(opts_.start_timeout_s) + " s";
      spdlog::warn("session {}: {}; ending it", id, s->fail_reason);
      terminate(*s);
      continue;
    }
    if (!s->proc || !s->proc->running() || !s->turn_running || s->row.state == "waiting_approval") continue;
    if (now - s->last_activity < opts_.idle_timeout_s) continue;
    s->fail_reason = "hung: no output for " + std::to_string(static_cast<long>(opts_.idle_timeout_s)) +
                     " s while a turn was running";
    spdlog::warn("session {}: {}; ending it", id, s->fail_reason);
    terminate(*s);
    s->last_activity = now;  // once
  }
}

json Supervisor::economy() const {
  return {{"max_live", opts_.max_live},
          {"live", processes()},
          {"waiting_for_slot", slot_waiters_.size()},
          {"park_after_s", opts_.park_after_s},
          {"warm_pool", pool_->status()}};
}

}  // namespace ccmux
