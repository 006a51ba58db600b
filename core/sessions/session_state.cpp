#include "sessions/session_state.h"

#include <algorithm>

namespace ccmux {

namespace {
using S = SessionState;
using E = SessionEvent;

// Live: a process of ours is (or may be) running.
#define LIVE S::starting, S::idle, S::running, S::waiting_approval
// Without a process: a start may be attempted from each of these.
#define RESTARTABLE S::starting, S::queued, S::restarting, S::parked, S::exited, S::failed, S::observed

const std::vector<SessionTransition> kTable = {
    // A start happens from any state without a process; `starting` itself for a new session
    // (created in it), `observed` when a hand-started session had queued prompts.
    {E::spawned, {RESTARTABLE}, S::starting},
    {E::spawn_failed, {RESTARTABLE}, S::failed},
    // `idle` too: the initialize answer may come after a `result` (reason changes).
    {E::initialized, {S::starting, S::idle, S::waiting_approval}, S::idle},
    {E::prompt_sent, {S::idle, S::waiting_approval}, S::running},
    {E::approval_asked, {S::starting, S::idle, S::running}, S::waiting_approval},
    {E::approval_settled_in_turn, {S::waiting_approval}, S::running},
    {E::approval_settled, {S::waiting_approval}, S::idle},
    {E::turn_ended, {LIVE}, S::idle},
    {E::slot_wait, {S::starting, S::restarting, S::parked, S::exited, S::failed, S::observed}, S::queued},
    {E::stopped, {LIVE, S::queued, S::restarting}, S::exited},
    {E::process_parked, {LIVE}, S::parked},
    {E::process_exited, {LIVE, S::exited}, S::exited},
    {E::process_failed, {LIVE}, S::failed},
    {E::crashed, {LIVE}, S::restarting},
    {E::gave_up, {LIVE}, S::failed},
    // `unadoptable`: a later ccmuxd found its holder gone.
    {E::daemon_restarted, {LIVE, S::queued, S::restarting, S::unadoptable}, S::exited},
    {E::observed_start, {S::queued, S::restarting, S::parked, S::exited, S::failed}, S::observed},
    {E::observed_end, {S::observed}, S::exited},
    {E::holder_unadoptable, {LIVE, S::unadoptable}, S::unadoptable},
};
#undef LIVE
#undef RESTARTABLE

constexpr const char* kStateNames[] = {"starting", "idle",   "running", "waiting_approval", "queued",
                                       "restarting", "parked", "exited",  "failed",           "observed",
                                       "unadoptable"};
constexpr const char* kEventNames[] = {
    "spawned",        "spawn_failed",   "initialized",    "prompt_sent",      "approval_asked",
    "approval_settled_in_turn", "approval_settled", "turn_ended", "slot_wait",  "stopped",
    "process_parked", "process_exited", "process_failed", "crashed",          "gave_up",
    "daemon_restarted", "observed_start", "observed_end", "holder_unadoptable"};
}  // namespace

const char* to_string(SessionState s) { return kStateNames[static_cast<size_t>(s)]; }
const char* to_string(SessionEvent e) { return kEventNames[static_cast<size_t>(e)]; }

std::vector<SessionState> all_session_states() {
  std::vector<SessionState> v;
  for (size_t i = 0; i < std::size(kStateNames); ++i) v.push_back(static_cast<SessionState>(i));
  return v;
}

std::vector<SessionEvent> all_session_events() {
  std::vector<SessionEvent> v;
  for (size_t i = 0; i < std::size(kEventNames); ++i) v.push_back(static_cast<SessionEvent>(i));
  return v;
}

std::optional<SessionState> parse_session_state(std::string_view name) {
  for (size_t i = 0; i < std::size(kStateNames); ++i)
    if (name == kStateNames[i]) return static_cast<SessionState>(i);
  return std::nullopt;
}

bool is_live(SessionState s) {
  return s == S::starting || s == S::idle || s == S::running || s == S::waiting_approval;
}

const std::vector<SessionTransition>& session_transitions() { return kTable; }

std::optional<SessionState> next_state(SessionState from, SessionEvent event) {
  // Indexed by event: the table lists events in their enum order (checked by the unit test).
  const SessionTransition& t = kTable[static_cast<size_t>(event)];
  if (std::find(t.from.begin(), t.from.end(), from) == t.from.end()) return std::nullopt;
  return t.to;
}

}  // namespace ccmux
