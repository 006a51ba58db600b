// The Supervisor's side of the session economy (session_economy.h decides): the start gate,
// what a crash does to a session, parking one, the periodic check for hangs and start
// timeouts, and the EconomyHost answers (who holds a process, who could be parked).
// May call: SessionEconomy, the session state table (through transition), Clock, spdlog.
#include "sessions/supervisor.h"

#include "util.h"

#include <spdlog/spdlog.h>

#include <csignal>

namespace ccmux {

using nlohmann::json;

size_t Supervisor::processes() const {
  size_t n = 0;
  for (auto& [id, s] : sessions_) n += s->proc ? 1 : 0;
  return n;
}

size_t Supervisor::exiting() const {
  size_t n = 0;
  for (auto& [id, s] : sessions_) n += s->proc && s->stop_requested ? 1 : 0;
  return n;
}

void Supervisor::start_process(Session& s) {
  if (s.proc) return;  // running, or exiting (its exit restarts it)
  economy_->request_start(s.row.id);
}

void Supervisor::admit(const std::string& id) {
  auto it = sessions_.find(id);
  if (it != sessions_.end() && !it->second->proc) spawn(*it->second);
}

void Supervisor::queued(const std::string& id, size_t position, size_t live) {
  Session& s = *sessions_.at(id);
  size_t max_live = economy_->options().max_live;
  std::string why = "waiting for a free claude slot (" + std::to_string(live) + " live, claude.max_live " +
                    std::to_string(max_live) + ")";
  transition(s, SessionEvent::slot_wait, why);
  host_event(s, "session_queued", {{"position", position}, {"live", live}, {"max_live", max_live}});
}

void Supervisor::restart_due(const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  if (it->second->state == SessionState::restarting) start_process(*it->second);
}

void Supervisor::on_crash(Session& s, json info, const std::string& reason) {
  auto v = economy_->crashed(s.row.id);
  const auto& eo = economy_->options();
  info["crashes"] = v.crashes;
  if (v.give_up) {
    std::string why = "gave up after " + std::to_string(v.crashes) + (v.crashes == 1 ? " crash" : " crashes") +
                      " in " + seconds_text(eo.crash_window_s) + " s; last: " + reason;
    info["gave_up"] = true;
    info["reason"] = why;
    host_event(s, "session_failed", info);
    transition(s, SessionEvent::gave_up, why);
    spdlog::warn("session {}: {}", s.row.id, why);
    return;
  }
  info["restart_in_s"] = v.restart_in_s;
  host_event(s, "session_crashed", info);
  transition(s, SessionEvent::crashed,
             reason + "; restarting in " + seconds_text(v.restart_in_s) + " s (crash " + std::to_string(v.crashes) +
                 " of " + std::to_string(eo.crash_limit) + " allowed in " + seconds_text(eo.crash_window_s) + " s)");
  spdlog::warn("session {}: {}; restarting in {} s", s.row.id, reason, v.restart_in_s);
}

bool Supervisor::parkable(const Session& s) const {
  return s.proc && s.proc->running() && s.initialized && !s.turn_running && !s.stop_requested &&
         !s.link.has_pending() && !approvals_.has_pending(s.row.id) && !has_queued_prompts(s.row.id);
}

std::vector<EconomyHost::Candidate> Supervisor::parkable() const {
  std::vector<Candidate> out;
  for (auto& [id, s] : sessions_)
    if (parkable(*s)) out.push_back({id, s->last_activity});
  return out;
}

void Supervisor::park(const std::string& id, const std::string& reason) {
  Session& s = *sessions_.at(id);
  spdlog::info("session {}: parking claude pid {} ({})", id, s.proc->pid(), reason);
  s.park_requested = true;
  s.park_reason = reason;
  close_gracefully(s);
}

void Supervisor::tick() {
  check_hangs();
  if (shutdown_done_) return;
  economy_->tick();
}

void Supervisor::check_hangs() {
  double now = clock_.now();
  for (auto& [id, s] : sessions_) {
    if (s->proc && s->proc->running() && !s->initialized && !s->stop_requested && s->fail_reason.empty() &&
        opts_.start_timeout_s > 0 && now - s->started_at >= opts_.start_timeout_s) {
      // It never became ready (stuck at start-up, not reading stdin, a SessionStart hook that hangs).
      s->fail_reason =
          "start timeout: claude did not answer initialize within " + seconds_text(opts_.start_timeout_s) + " s";
      spdlog::warn("session {}: {}; ending it", id, s->fail_reason);
      terminate(*s);
      continue;
    }
    if (!s->proc || !s->proc->running() || !s->turn_running || s->state == SessionState::waiting_approval) continue;
    if (now - s->last_activity < opts_.idle_timeout_s) continue;
    s->fail_reason = "hung: no output for " + std::to_string(static_cast<long>(opts_.idle_timeout_s)) +
                     " s while a turn was running";
    spdlog::warn("session {}: {}; ending it", id, s->fail_reason);
    terminate(*s);
    s->last_activity = now;  // once
  }
}

json Supervisor::economy() const { return economy_->status(); }

}  // namespace ccmux
