// The session state machine: the states a session shows (`ccmux ls`, session.get,
// `session_state` events, the store) and which event may move it from which state to which.
// Owns: the state names (user-visible, stored: never rename one) and the transition table.
// May call: nothing (pure). The Supervisor asks it before every state change; a change the
// table does not allow is refused (the state stays, the Supervisor logs it).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux {

enum class SessionState {
  starting,          // its claude was started; initialize not answered yet
  idle,              // claude ready, no turn running
  running,           // a turn is running
  waiting_approval,  // a tool call waits for a person (policies and providers left it open)
  queued,            // waiting for a live slot (claude.max_live)
  restarting,        // crashed; a restart is due after the backoff
  parked,            // idle claude ended to save memory; the next prompt resumes it
  exited,            // no process (stopped, ended, or ccmuxd restarted); the next prompt resumes it
  failed,            // could not start, or gave up after repeated crashes
  observed,          // a hand-started claude in a terminal, seen through hooks (no process of ours)
  unadoptable,       // its claude runs under a holder this ccmuxd cannot speak to (another protocol)
};

// What happened to the session. Each event leads to one state.
enum class SessionEvent {
  spawned,                   // a claude process was started (cold or warm)         -> starting
  spawn_failed,              // starting one failed                                 -> failed
  initialized,               // claude answered initialize, no turn running         -> idle
  prompt_sent,               // a queued prompt went to claude                      -> running
  approval_asked,            // a tool call was left to a person                    -> waiting_approval
  approval_settled_in_turn,  // the last pending one was answered, turn goes on     -> running
  approval_settled,          // the last pending one was answered, no turn          -> idle
  turn_ended,                // claude wrote its `result`                           -> idle
  slot_wait,                 // no live slot free: waits in the slot queue          -> queued
  stopped,                   // `stop` with no process running                      -> exited
  process_parked,            // its claude ended after a park                       -> parked
  process_exited,            // its claude ended normally (or was stopped)          -> exited
  process_failed,            // its claude ended abnormally while ccmuxd stops      -> failed
  crashed,                   // its claude ended abnormally: restart after backoff  -> restarting
  gave_up,                   // too many crashes within the window                 -> failed
  daemon_restarted,          // found live/queued/restarting by a new ccmuxd        -> exited
  observed_start,            // hooks report it running in a terminal               -> observed
  observed_end,              // hooks report SessionEnd                             -> exited
  holder_unadoptable,        // found held by a holder of another protocol          -> unadoptable
};

const char* to_string(SessionState s);
const char* to_string(SessionEvent e);
std::optional<SessionState> parse_session_state(std::string_view name);
std::vector<SessionState> all_session_states();
std::vector<SessionEvent> all_session_events();

// A process of ours runs (or is expected to answer) in this state.
bool is_live(SessionState s);

// Where `event` takes a session in state `from`, or nothing when the table does not allow it.
std::optional<SessionState> next_state(SessionState from, SessionEvent event);

// The table itself, for documentation and tests: each event with its allowed sources and target.
struct SessionTransition {
  SessionEvent event;
  std::vector<SessionState> from;
  SessionState to;
};
const std::vector<SessionTransition>& session_transitions();

}  // namespace ccmux
