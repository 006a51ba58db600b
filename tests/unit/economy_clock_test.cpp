// The session economy on a hand-driven clock (no sleeping): SessionEconomy against a host
// that records what it is asked; the warm pool with scripted processes; and the Supervisor
// with scripted claude processes for what tests/unit/economy_test.cpp checks with the python
// fake and real time (parking, approvals, crash backoff). The e2e economy tests run the real claude.
#include "approvals/approval_chain.h"
#include "fake_clock.h"
#include "harness.h"
#include "sessions/session_economy.h"
#include "sessions/supervisor.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace ccmux;
using namespace ccmux::test;
using nlohmann::json;

namespace {

// A host with sessions the test describes; records what the economy asks of it.
struct Host : EconomyHost {
  struct Sess {
    bool process = false, exiting = false, parkable = false;
    double last_activity = 0;
  };
  std::map<std::string, Sess> sessions;
  std::vector<std::string> parked, admitted, restarted;
  std::vector<std::pair<std::string, size_t>> queued_at;  // (id, position)
  std::vector<std::string> reasons;

  size_t processes() const override {
    return std::count_if(sessions.begin(), sessions.end(), [](auto& p) { return p.second.process; });
  }
  size_t exiting() const override {
    return std::count_if(sessions.begin(), sessions.end(), [](auto& p) { return p.second.process && p.second.exiting; });
  }
  std::vector<Candidate> parkable() const override {
    std::vector<Candidate> v;
    for (auto& [id, s] : sessions)
      if (s.parkable && s.process && !s.exiting) v.push_back({id, s.last_activity});
    return v;
  }
  void park(const std::string& id, const std::string& reason) override {
    parked.push_back(id);
    reasons.push_back(reason);
    sessions[id].exiting = true;
  }
  void queued(const std::string& id, size_t position, size_t) override { queued_at.push_back({id, position}); }
  void admit(const std::string& id) override {
    admitted.push_back(id);
    sessions[id].process = true;
  }
  void restart_due(const std::string& id) override { restarted.push_back(id); }
};

struct Econ {
  FakeClock clock;
  Host host;
  std::shared_ptr<FakeClaudeScript> script = std::make_shared<FakeClaudeScript>();
  std::unique_ptr<SessionEconomy> e;
  explicit Econ(EconomyOptions o) {
    e = std::make_unique<SessionEconomy>(
        clock, o, host, FakeClaude::factory(clock, script),
        [](Process& p, const WarmKey&, const std::string& sid, std::vector<std::string>& args, std::string& err) {
          args = {"--session-id", sid};
          return p.spawn("claude", args, "/", {}, err);
        },
        [] {});
  }
};

EconomyOptions opts(size_t max_live = 8, double park_after = 600) {
  EconomyOptions o;
  o.max_live = max_live;
  o.park_after_s = park_after;
  return o;
}
}  // namespace

TEST(EconomyClock, AnIdleSessionIsParkedAtExactlyParkAfter) {
  Econ x(opts(8, 600));
  x.host.sessions["s-a"] = {true, false, true, x.clock.now()};
  x.clock.advance(599.999);
  x.e->tick();
  EXPECT_TRUE(x.host.parked.empty()) << "parked before park_after";
  x.clock.advance(0.001);
  x.e->tick();
  ASSERT_EQ(x.host.parked, std::vector<std::string>{"s-a"});
  EXPECT_EQ(x.host.reasons[0], "idle for 600 s; the next prompt resumes it");
}

TEST(EconomyClock, ParkAfterZeroNeverParksAndBusySessionsAreNotParked) {
  Econ never(opts(8, 0));
  never.host.sessions["s-a"] = {true, false, true, never.clock.now()};
  never.clock.advance(1e6);
  never.e->tick();
  EXPECT_TRUE(never.host.parked.empty());
  Econ busy(opts(8, 10));
  busy.host.sessions["s-b"] = {true, false, false, busy.clock.now()};  // a turn, an approval, a queued prompt...
  busy.clock.advance(1e6);
  busy.e->tick();
  EXPECT_TRUE(busy.host.parked.empty());
}

TEST(EconomyClock, CrashBackoffDoublesUpToItsMaximumAndGivesUpAtTheLimit) {
  EconomyOptions o = opts();
  o.restart_backoff_s = 0.5;
  o.restart_backoff_max_s = 3;
  o.crash_limit = 6;
  o.crash_window_s = 1000;
  Econ x(o);
  std::vector<double> delays;
  for (int i = 0; i < 5; ++i) {
    auto v = x.e->crashed("s-a");
    ASSERT_FALSE(v.give_up) << i;
    EXPECT_EQ(v.crashes, size_t(i + 1));
    delays.push_back(v.restart_in_s);
    EXPECT_TRUE(x.e->restart_pending("s-a"));
    // The restart comes after exactly that delay, not before.
    x.clock.advance(v.restart_in_s - 0.001);
    EXPECT_EQ(x.host.restarted.size(), size_t(i));
    x.clock.advance(0.001);
    EXPECT_EQ(x.host.restarted.size(), size_t(i + 1));
    EXPECT_FALSE(x.e->restart_pending("s-a"));
  }
  EXPECT_EQ(delays, (std::vector<double>{0.5, 1, 2, 3, 3}));
  auto last = x.e->crashed("s-a");
  EXPECT_TRUE(last.give_up);
  EXPECT_EQ(last.crashes, 6u);
  EXPECT_FALSE(x.e->restart_pending("s-a"));
}

TEST(EconomyClock, CrashesOutsideTheWindowAreForgottenAndAPersonResetsTheBudget) {
  EconomyOptions o = opts();
  o.restart_backoff_s = 1;
  o.crash_limit = 3;
  o.crash_window_s = 60;
  Econ x(o);
  EXPECT_EQ(x.e->crashed("s-a").crashes, 1u);
  x.clock.advance(30);
  EXPECT_EQ(x.e->crashed("s-a").crashes, 2u);
  x.clock.advance(30.5);  // the first is now 60.5 s old
  auto v = x.e->crashed("s-a");
  EXPECT_EQ(v.crashes, 2u);
  EXPECT_FALSE(v.give_up);
  EXPECT_DOUBLE_EQ(v.restart_in_s, 2);
  x.e->reset_crashes("s-a");
  EXPECT_EQ(x.e->crashed("s-a").crashes, 1u);
  EXPECT_EQ(x.e->crashed("s-b").crashes, 1u) << "each session has its own budget";
}

TEST(EconomyClock, AStopCancelsADueRestart) {
  EconomyOptions o = opts();
  o.restart_backoff_s = 1;
  Econ x(o);
  x.e->crashed("s-a");
  x.e->cancel_restart("s-a");
  x.clock.advance(10);
  EXPECT_TRUE(x.host.restarted.empty());
}

TEST(EconomyClock, SlotsAreCountedQueuedInOrderAndTheLeastRecentlyUsedIsParkedForAWaiter) {
  Econ x(opts(2));
  x.e->request_start("s-1");
  x.e->request_start("s-2");
  EXPECT_EQ(x.host.admitted, (std::vector<std::string>{"s-1", "s-2"}));
  // Both busy: the third waits, visible at position 1; nobody is parked.
  x.e->request_start("s-3");
  x.e->request_start("s-4");
  EXPECT_EQ(x.host.queued_at, (std::vector<std::pair<std::string, size_t>>{{"s-3", 1}, {"s-4", 2}}));
  EXPECT_EQ(x.e->queue_position("s-4"), 2u);
  EXPECT_EQ(x.e->waiting(), 2u);
  EXPECT_TRUE(x.host.parked.empty());
  x.e->request_start("s-3");  // already waiting: no second place
  EXPECT_EQ(x.e->waiting(), 2u);
  // Both become idle; s-2 was used less recently: it is parked first, then s-1 for the second waiter.
  x.host.sessions["s-1"].parkable = true;
  x.host.sessions["s-1"].last_activity = 50;
  x.host.sessions["s-2"].parkable = true;
  x.host.sessions["s-2"].last_activity = 40;
  x.e->make_room();
  EXPECT_EQ(x.host.parked, (std::vector<std::string>{"s-2", "s-1"}));
  EXPECT_NE(x.host.reasons[0].find("claude.max_live 2"), std::string::npos) << x.host.reasons[0];
  // Still held until they exit: nobody is admitted over the limit.
  x.e->admit_waiters();
  EXPECT_EQ(x.host.admitted.size(), 2u);
  x.host.sessions["s-2"] = {};  // exited
  x.e->admit_waiters();
  EXPECT_EQ(x.host.admitted.back(), "s-3");
  EXPECT_EQ(x.e->queue_position("s-4"), 1u);
  x.e->leave_queue("s-4");  // stopped while waiting
  x.host.sessions["s-1"] = {};
  x.e->admit_waiters();
  EXPECT_EQ(x.host.admitted.size(), 3u);
  EXPECT_EQ(x.e->status()["live"], 1);
  EXPECT_EQ(x.e->status()["waiting_for_slot"], 0);
}

TEST(EconomyClock, AWaiterWithAProcessOnItsWayOutParksNobodyElse) {
  Econ x(opts(1));
  x.e->request_start("s-1");
  x.host.sessions["s-1"].exiting = true;  // being stopped
  x.host.sessions["s-2"] = {true, false, true, 0};  // over the limit in this test: parkable, must stay
  x.e->request_start("s-3");
  EXPECT_TRUE(x.host.parked.empty()) << "the exiting process frees the slot";
}

TEST(EconomyClock, TheWarmPoolStartsOneProcessPerRoundAndWaitsAfterATake) {
  EconomyOptions o = opts();
  o.pool.capacity = 1;
  o.pool.meminfo = [] { return MemInfo{16LL << 30, 8LL << 30}; };
  Econ x(o);
  WarmPool& pool = x.e->pool();
  WarmKey key{"/p", "", "default"};
  pool.note_used(key);
  x.e->tick();
  ASSERT_EQ(pool.size(), 1u);
  EXPECT_EQ(x.script->spawned, 1);
  x.clock.settle();  // its initialize is answered
  EXPECT_TRUE(pool.status()["processes"][0]["ready"].get<bool>());
  auto taken = pool.take(key);
  ASSERT_TRUE(taken);
  EXPECT_TRUE(taken->init_request_id.empty()) << "it was ready";
  // Refilled only after refill_delay_s (2 s): the new session's first turn has the CPU.
  x.clock.advance(1.9);
  x.e->tick();
  EXPECT_TRUE(pool.empty());
  x.clock.advance(0.1);
  x.e->tick();
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(x.script->spawned, 2);
}

TEST(EconomyClock, TheWarmPoolEmptiesAfterItsIdleTimeAndPausesAfterAWarmProcessDies) {
  EconomyOptions o = opts();
  o.pool.capacity = 1;
  o.pool.idle_ttl_s = 100;
  o.pool.meminfo = [] { return MemInfo{16LL << 30, 8LL << 30}; };
  Econ x(o);
  WarmPool& pool = x.e->pool();
  pool.note_used({"/p", "", "default"});
  x.e->tick();
  x.clock.settle();
  ASSERT_EQ(pool.size(), 1u);
  x.clock.advance(100.5);
  x.e->tick();  // no session for longer than idle_ttl: closed (stdin EOF), gone once it exited
  x.clock.settle();
  EXPECT_TRUE(pool.empty());
  x.e->tick();
  EXPECT_EQ(x.script->spawned, 1) << "refilled after the idle time";

  // A warm claude that exits by itself pauses refills for 60 s (a respawn at once would loop).
  o.pool.idle_ttl_s = 0;  // kept: the pause is what holds the refills back
  Econ y(o);
  y.script->exit_at_start = 0;
  y.e->pool().note_used({"/p", "", "default"});
  y.e->tick();
  y.clock.settle();
  EXPECT_TRUE(y.e->pool().empty());
  y.clock.advance(59);
  y.e->tick();
  EXPECT_EQ(y.script->spawned, 1);
  y.clock.advance(1);
  y.e->tick();
  EXPECT_EQ(y.script->spawned, 2);
  y.clock.settle();
  y.clock.advance(119);  // the second death in a row: 120 s
  y.e->tick();
  EXPECT_EQ(y.script->spawned, 2);
  y.clock.advance(1);
  y.e->tick();
  EXPECT_EQ(y.script->spawned, 3);
}

TEST(EconomyClock, AWarmClaudeThatNeverAnswersIsEndedAtTheStartTimeout) {
  EconomyOptions o = opts();
  o.pool.capacity = 1;
  o.pool.start_timeout_s = 3;
  o.pool.meminfo = [] { return MemInfo{16LL << 30, 8LL << 30}; };
  Econ x(o);
  x.script->answer_initialize = false;
  x.e->pool().note_used({"/p", "", "default"});
  x.e->tick();
  x.clock.advance(2.9);
  x.e->tick();
  EXPECT_EQ(x.e->pool().size(), 1u);
  x.clock.advance(0.1);
  x.e->tick();  // SIGTERM
  x.clock.settle();
  EXPECT_TRUE(x.e->pool().empty());
  x.clock.advance(30);
  x.e->tick();
  EXPECT_EQ(x.script->spawned, 1) << "respawned in a loop";
}

// The Supervisor on the hand-driven clock with scripted claude processes: the sessions'
// side of the economy, asserted through the events and states clients see.
namespace {
struct Daemonless {
  TempDir dir;
  EventLoop loop;  // the approval chain's policy worker answers through it
  Store store{dir.path + "/db"};
  EventBus bus{store};
  PolicyEngine policies{loop, PolicyEngine::Options{}};
  ApprovalChain chain{loop, store, bus, policies, 3600};
  FakeClock clock;
  std::shared_ptr<FakeClaudeScript> script = std::make_shared<FakeClaudeScript>();
  std::unique_ptr<Supervisor> sup;

  explicit Daemonless(std::function<void(SupervisorOptions&)> tune = {}) {
    SupervisorOptions o;
    o.claude_path = "claude";
    o.project_roots = {dir.path};
    o.economy.max_live = 8;
    if (tune) tune(o);
    sup = std::make_unique<Supervisor>(clock, FakeClaude::factory(clock, script), store, bus, chain, o);
  }
  std::string create(const std::string& prompt) { return sup->create(dir.path, prompt, "", ""); }
  // Lets the scripted processes talk (0 s on the clock) and the policy worker answer.
  void settle() {
    for (int i = 0; i < 20; ++i) {
      clock.settle();
      loop.add_timer(0.002, [this] { loop.stop(); });
      loop.run();
    }
    clock.settle();
  }
  void advance(double s) {
    clock.advance(s);
    settle();
  }
  std::vector<json> events(const std::string& id, const std::string& kind) {
    bus.flush();
    std::vector<json> out;
    store.read_events(id, 1, INT64_MAX, 1000000, [&](uint64_t, int64_t, std::string_view k, std::string_view p) {
      if (k == kind) out.push_back(json::parse(p));
    });
    return out;
  }
  json info(const std::string& id) { return sup->info(id); }
};
}  // namespace

TEST(EconomyClock, SupervisorParksAnIdleSessionAfterParkAfterAndTheNextPromptResumesIt) {
  Daemonless d([](SupervisorOptions& o) { o.economy.park_after_s = 0.5; });
  std::string id = d.create("first");
  d.settle();
  ASSERT_EQ(d.events(id, "result").size(), 1u) << d.info(id);
  EXPECT_EQ(d.info(id)["state"], "idle");
  d.clock.advance(0.49);
  d.sup->tick_for_test();
  d.settle();
  EXPECT_TRUE(d.events(id, "session_parked").empty()) << "parked before park_after";
  d.clock.advance(0.01);
  d.sup->tick_for_test();
  d.settle();
  ASSERT_EQ(d.events(id, "session_parked").size(), 1u);
  json s = d.info(id);
  EXPECT_EQ(s["state"], "parked");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_NE(s["reason"].get<std::string>().find("idle"), std::string::npos) << s;
  EXPECT_EQ(d.sup->count_by_state()["parked"], 1u);
  d.sup->send(id, "second");
  d.settle();
  ASSERT_EQ(d.events(id, "result").size(), 2u);
  auto starts = d.events(id, "session_started");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[1]["resume"], true);
  EXPECT_EQ(d.events(id, "result")[1]["session_id"], s["claude_session_id"]);
}

TEST(EconomyClock, SupervisorNeverParksASessionWithAPendingApproval) {
  Daemonless d([](SupervisorOptions& o) { o.economy.park_after_s = 0.3; });
  std::string id = d.create("ask me");
  d.settle();
  ASSERT_EQ(d.events(id, "approval_requested").size(), 1u) << d.info(id);
  for (int i = 0; i < 10; ++i) {  // 1.5 s of ticks
    d.clock.advance(0.15);
    d.sup->tick_for_test();
    d.settle();
  }
  EXPECT_EQ(d.info(id)["state"], "waiting_approval");
  EXPECT_TRUE(d.events(id, "session_parked").empty());
}

TEST(EconomyClock, SupervisorRestartsACrashAfterExactlyTheBackoffAndKeepsTheSession) {
  Daemonless d([](SupervisorOptions& o) { o.economy.restart_backoff_s = 0.3; });
  std::string id = d.create("crash now");
  d.settle();
  auto crashes = d.events(id, "session_crashed");
  ASSERT_EQ(crashes.size(), 1u);
  EXPECT_EQ(crashes[0]["signal"], 9);
  EXPECT_DOUBLE_EQ(crashes[0]["restart_in_s"].get<double>(), 0.3);
  EXPECT_EQ(d.info(id)["state"], "restarting");
  d.advance(0.299);
  EXPECT_EQ(d.events(id, "session_started").size(), 1u);
  d.advance(0.001);
  auto starts = d.events(id, "session_started");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[1]["resume"], true);
  EXPECT_EQ(d.info(id)["state"], "idle");
  d.sup->send(id, "back again");
  d.settle();
  ASSERT_EQ(d.events(id, "result").size(), 1u);
  EXPECT_EQ(d.events(id, "result")[0]["result"], "back again");
}

TEST(EconomyClock, SupervisorCrashLoopBacksOffDoublingAndGivesUpWithTheLastStderrLines) {
  Daemonless d([](SupervisorOptions& o) {
    o.economy.restart_backoff_s = 0.2;
    o.economy.restart_backoff_max_s = 10;
    o.economy.crash_limit = 3;
    o.economy.crash_window_s = 60;
  });
  d.script->exit_at_start = 3;
  d.script->start_stderr = {"loading config", "fatal: simulated start-up crash"};
  std::string id = d.create("hello");
  d.settle();
  d.advance(0.19);
  EXPECT_EQ(d.events(id, "session_started").size(), 1u) << "restarted before the backoff";
  d.advance(0.02);  // 0.21: restarted at 0.2, crashed again
  EXPECT_EQ(d.events(id, "session_started").size(), 2u);
  d.advance(0.37);  // 0.58
  EXPECT_EQ(d.events(id, "session_started").size(), 2u) << "restarted before the doubled backoff";
  d.advance(0.03);  // 0.61: restarted at 0.6 and given up
  auto crashes = d.events(id, "session_crashed");
  ASSERT_EQ(crashes.size(), 2u);
  EXPECT_EQ(d.events(id, "session_started").size(), 3u);
  EXPECT_DOUBLE_EQ(crashes[0]["restart_in_s"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(crashes[1]["restart_in_s"].get<double>(), 0.4);
  ASSERT_EQ(d.events(id, "session_failed").size(), 1u);
  json failed = d.events(id, "session_failed")[0];
  EXPECT_TRUE(failed["gave_up"].get<bool>());
  EXPECT_EQ(failed["stderr_tail"], (json{"loading config", "fatal: simulated start-up crash"}));
  json s = d.info(id);
  EXPECT_EQ(s["state"], "failed");
  std::string reason = s["reason"];
  EXPECT_NE(reason.find("gave up after 3 crashes in 60 s"), std::string::npos) << reason;
  EXPECT_NE(reason.find("fatal: simulated start-up crash"), std::string::npos) << reason;
  d.advance(60);  // nothing restarts it any more
  EXPECT_EQ(d.script->spawned, 3);
  d.sup->resume(id);  // a person can
  d.settle();
  EXPECT_EQ(d.events(id, "session_started").size(), 4u);
}

TEST(EconomyClock, SupervisorStopDuringTheCrashBackoffEndsTheSessionForGood) {
  Daemonless d([](SupervisorOptions& o) { o.economy.restart_backoff_s = 1; });
  d.script->exit_at_start = 0;
  std::string id = d.create("hello");
  d.settle();
  ASSERT_EQ(d.events(id, "session_crashed").size(), 1u);
  EXPECT_EQ(d.info(id)["state"], "restarting");
  d.sup->stop(id);
  EXPECT_EQ(d.info(id)["state"], "exited");
  EXPECT_EQ(d.info(id)["reason"], "stopped");
  d.advance(2);  // past the restart that was due
  EXPECT_EQ(d.script->spawned, 1);
  EXPECT_EQ(d.events(id, "session_started").size(), 1u);
  EXPECT_EQ(d.info(id)["state"], "exited");
}

TEST(EconomyClock, SupervisorLiveLimitParksTheLeastRecentlyUsedIdleSession) {
  Daemonless d([](SupervisorOptions& o) { o.economy.max_live = 2; });
  std::string one = d.create("one");
  d.advance(1);
  std::string two = d.create("two");
  d.advance(1);
  d.sup->send(one, "one again");  // `two` is now the least recent
  d.advance(1);
  std::string three = d.create("three");
  EXPECT_EQ(d.info(three)["state"], "queued");
  EXPECT_EQ(d.info(three)["slot_queue_position"], 1);
  d.settle();
  EXPECT_EQ(d.events(three, "result").size(), 1u);
  EXPECT_EQ(d.info(two)["state"], "parked");
  EXPECT_NE(d.info(two)["reason"].get<std::string>().find("max_live 2"), std::string::npos);
  EXPECT_EQ(d.info(one)["state"], "idle");
  EXPECT_EQ(d.sup->live_count(), 2u);
  EXPECT_EQ(d.sup->economy()["max_live"], 2);
}

TEST(EconomyClock, SupervisorRefusesATransitionTheTableDoesNotAllow) {
  Daemonless d;
  // A hand-started session that ended: no process of ours. A `result` for it (only the
  // test hook can deliver one) would have made it "idle" with nothing running.
  std::string id = d.sup->observe("c-1", d.dir.path, "default");
  d.sup->observed_end(id, "session ended");
  ASSERT_EQ(d.info(id)["state"], "exited");
  size_t states = d.events(id, "session_state").size();
  d.sup->handle_line_for_test(id, R"({"type":"result","subtype":"success","is_error":false,"result":"x"})");
  EXPECT_EQ(d.info(id)["state"], "exited");
  EXPECT_EQ(d.info(id)["reason"], "session ended");
  EXPECT_EQ(d.events(id, "session_state").size(), states) << "a refused change is not announced";
  EXPECT_EQ(d.events(id, "result").size(), 1u) << "the line itself is still kept";
}

TEST(EconomyClock, SupervisorEndsAndRestartsAHungClaude) {
  Daemonless d([](SupervisorOptions& o) {
    o.idle_timeout_s = 1;
    o.economy.restart_backoff_s = 0.2;
  });
  std::string id = d.create("hang please");
  d.settle();
  d.clock.advance(0.99);
  d.sup->tick_for_test();
  d.settle();
  EXPECT_TRUE(d.events(id, "session_crashed").empty()) << "ended before idle_timeout";
  d.clock.advance(0.01);
  d.sup->tick_for_test();  // SIGTERM
  d.settle();
  ASSERT_EQ(d.events(id, "session_crashed").size(), 1u);
  EXPECT_NE(d.events(id, "session_crashed")[0]["reason"].get<std::string>().find("hung"), std::string::npos);
  d.advance(0.2);
  EXPECT_EQ(d.events(id, "session_started").size(), 2u);
}

TEST(EconomyClock, SupervisorBacksOffAndFailsAClaudeThatExitsZeroAtOnce) {
  Daemonless d([](SupervisorOptions& o) {
    o.economy.restart_backoff_s = 0.2;
    o.economy.crash_limit = 3;
    o.economy.crash_window_s = 60;
  });
  d.script->exit_at_start = 0;
  d.script->start_stderr = {"fake claude: start-up mode exit0"};
  std::string id = d.create("hello");
  d.settle();
  d.advance(0.2);
  d.advance(0.4);
  ASSERT_EQ(d.events(id, "session_failed").size(), 1u) << d.script->spawned << " starts and no failure";
  auto crashes = d.events(id, "session_crashed");
  ASSERT_EQ(crashes.size(), 2u);
  EXPECT_EQ(crashes[0]["exit_code"], 0);
  EXPECT_DOUBLE_EQ(crashes[0]["restart_in_s"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(crashes[1]["restart_in_s"].get<double>(), 0.4);
  json s = d.info(id);
  EXPECT_EQ(s["state"], "failed");
  std::string reason = s["reason"];
  EXPECT_NE(reason.find("gave up after 3 crashes"), std::string::npos) << reason;
  EXPECT_NE(reason.find("claude exited with code 0 before answering initialize"), std::string::npos) << reason;
  EXPECT_NE(reason.find("fake claude: start-up mode exit0"), std::string::npos) << reason;
  d.advance(1);
  EXPECT_EQ(d.script->spawned, 3);
  EXPECT_EQ(d.events(id, "session_started").size(), 3u);
  EXPECT_EQ(d.info(id)["queued_prompts"], 1) << "the prompt waits for the next send or resume";
}

TEST(EconomyClock, SupervisorRestartsAClaudeThatExitsZeroDuringATurnLikeACrash) {
  Daemonless d([](SupervisorOptions& o) { o.economy.restart_backoff_s = 0.2; });
  std::string id = d.create("quit now");
  d.settle();
  ASSERT_EQ(d.events(id, "session_crashed").size(), 1u);
  json crash = d.events(id, "session_crashed")[0];
  EXPECT_EQ(crash["exit_code"], 0);
  EXPECT_NE(crash["reason"].get<std::string>().find("claude exited with code 0 during a turn"), std::string::npos)
      << crash;
  EXPECT_TRUE(d.events(id, "session_exited").empty());
  d.advance(0.2);
  ASSERT_EQ(d.events(id, "session_started").size(), 2u);
  EXPECT_EQ(d.events(id, "session_started")[1]["resume"], true);
  EXPECT_EQ(d.info(id)["state"], "idle");
}
