// The session state machine (session_state.h): the names stay what the protocol and the store
// have always shown, every transition of the table is allowed, and nothing else is.
#include "sessions/session_state.h"

#include <gtest/gtest.h>

#include <set>

using namespace ccmux;
using S = SessionState;
using E = SessionEvent;

TEST(SessionState, NamesAreTheOnesClientsAndTheStoreKnow) {
  std::vector<std::string> names;
  for (auto s : all_session_states()) names.push_back(to_string(s));
  EXPECT_EQ(names, (std::vector<std::string>{"starting", "idle", "running", "waiting_approval", "queued", "restarting",
                                             "parked", "exited", "failed", "observed", "unadoptable"}));
  for (auto s : all_session_states()) EXPECT_EQ(parse_session_state(to_string(s)), s) << to_string(s);
  EXPECT_FALSE(parse_session_state("Idle"));
  EXPECT_FALSE(parse_session_state(""));
  EXPECT_FALSE(parse_session_state("stopped"));
}

TEST(SessionState, EveryEventHasOneRowInEnumOrder) {
  auto events = all_session_events();
  ASSERT_EQ(session_transitions().size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(session_transitions()[i].event, events[i]) << i;
}

// The whole table, written out: a change to it must change this test too.
TEST(SessionState, EveryAllowedTransition) {
  const std::vector<std::tuple<E, std::set<S>, S>> expected = {
      {E::spawned, {S::starting, S::queued, S::restarting, S::parked, S::exited, S::failed, S::observed}, S::starting},
      {E::spawn_failed, {S::starting, S::queued, S::restarting, S::parked, S::exited, S::failed, S::observed}, S::failed},
      {E::initialized, {S::starting, S::idle, S::waiting_approval}, S::idle},
      {E::prompt_sent, {S::idle, S::waiting_approval}, S::running},
      {E::approval_asked, {S::starting, S::idle, S::running}, S::waiting_approval},
      {E::approval_settled_in_turn, {S::waiting_approval}, S::running},
      {E::approval_settled, {S::waiting_approval}, S::idle},
      {E::turn_ended, {S::starting, S::idle, S::running, S::waiting_approval}, S::idle},
      {E::slot_wait, {S::starting, S::restarting, S::parked, S::exited, S::failed, S::observed}, S::queued},
      {E::stopped, {S::starting, S::idle, S::running, S::waiting_approval, S::queued, S::restarting}, S::exited},
      {E::process_parked, {S::starting, S::idle, S::running, S::waiting_approval}, S::parked},
      {E::process_exited, {S::starting, S::idle, S::running, S::waiting_approval, S::exited}, S::exited},
      {E::process_failed, {S::starting, S::idle, S::running, S::waiting_approval}, S::failed},
      {E::crashed, {S::starting, S::idle, S::running, S::waiting_approval}, S::restarting},
      {E::gave_up, {S::starting, S::idle, S::running, S::waiting_approval}, S::failed},
      {E::daemon_restarted, {S::starting, S::idle, S::running, S::waiting_approval, S::queued, S::restarting, S::unadoptable}, S::exited},
      {E::observed_start, {S::queued, S::restarting, S::parked, S::exited, S::failed}, S::observed},
      {E::observed_end, {S::observed}, S::exited},
      {E::holder_unadoptable, {S::starting, S::idle, S::running, S::waiting_approval, S::unadoptable}, S::unadoptable},
  };
  ASSERT_EQ(expected.size(), all_session_events().size());
  size_t allowed = 0;
  for (auto& [event, from, to] : expected) {
    for (auto s : all_session_states()) {
      SCOPED_TRACE(std::string(to_string(event)) + " from " + to_string(s));
      auto next = next_state(s, event);
      if (from.count(s)) {
        ASSERT_TRUE(next.has_value());
        EXPECT_EQ(*next, to);
        ++allowed;
      } else {
        EXPECT_FALSE(next.has_value()) << "allowed, to " << to_string(*next);
      }
    }
  }
  EXPECT_EQ(allowed, 79u);  // 73 + unadoptable: daemon_restarted from it, holder_unadoptable from 4 live states and itself
}

TEST(SessionState, SomeTransitionsThatMakeNoSenseAreRefused) {
  EXPECT_FALSE(next_state(S::observed, E::prompt_sent));        // a terminal's session gets no prompt from us
  EXPECT_FALSE(next_state(S::parked, E::turn_ended));           // no process, so no result
  EXPECT_FALSE(next_state(S::exited, E::approval_asked));       // nobody to ask for
  EXPECT_FALSE(next_state(S::running, E::spawned));             // a second process for one session
  EXPECT_FALSE(next_state(S::idle, E::observed_start));         // ours, running here
  EXPECT_FALSE(next_state(S::failed, E::process_parked));       // parked needs a process that ended
  EXPECT_FALSE(next_state(S::idle, E::approval_settled));       // nothing was waiting
  EXPECT_FALSE(next_state(S::parked, E::observed_end));         // only an observed one ends in its terminal
  EXPECT_FALSE(next_state(S::exited, E::daemon_restarted));     // already without a process
}

TEST(SessionState, LiveStatesAreTheOnesWithAProcess) {
  std::set<S> live;
  for (auto s : all_session_states())
    if (is_live(s)) live.insert(s);
  EXPECT_EQ(live, (std::set<S>{S::starting, S::idle, S::running, S::waiting_approval}));
}
