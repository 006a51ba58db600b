// Session economy through a whole ccmuxd with the scripted fake claude (real processes, real
// time): the visible slot queue, `ccmux resume`, stopping a claude that ignores stdin EOF,
// start timeouts and the warm pool's processes; and the pure sizing rules of the warm pool and
// max_live. The economy's logic on a hand-driven clock (parking, LRU, crash backoff, hangs)
// is in economy_clock_test.cpp; the same behaviours against the real claude are in
// tests/e2e/economy_e2e_test.cpp.
#include "harness.h"
#include "sessions/supervisor.h"
#include "sessions/warm_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <sstream>
#include <sys/stat.h>

using namespace ccmux;
using namespace ccmux::test;

namespace {
// Options with more claude.* config lines.
DaemonOptions with_keys(std::vector<std::string> claude_keys, DaemonOptions o = {}) {
  o.claude_keys = std::move(claude_keys);
  return o;
}

std::string new_session(Client& c, const FakeDaemon& f, const std::string& prompt) {
  return c.request("session.new", {{"cwd", f.d->project()}, {"prompt", prompt}})["id"];
}

json state_of(Client& c, const std::string& id) { return c.request("session.get", {{"session", id}}); }

}  // namespace

TEST(Economy, CcmuxResumeStartsAParkedSessionWithoutAPrompt) {
  FakeDaemon f(with_keys({"park_after: 0.5"}));
  auto c = f.d->connect();
  std::string id = new_session(*c, f, "first");
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("session_parked", 15000));
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket", f.d->socket(), "resume", id}, &out), 0);
  EXPECT_NE(out.find(id + ": starting"), std::string::npos) << out;
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("session_started").size() == 2; }));
  EXPECT_EQ(log.of_kind("session_started")[1]["payload"]["resume"], true);
  EXPECT_GT(state_of(*c, id)["pid"].get<int>(), 0);
  EXPECT_EQ(log.of_kind("prompt_queued").size(), 1u) << "resume sends no prompt";
}

TEST(Economy, WhenNoSessionCanBeParkedNewTurnsWaitInAVisibleQueue) {
  FakeDaemon f(with_keys({"max_live: 1"}));
  auto c = f.d->connect(true);
  std::string busy = new_session(*c, f, "ask me");
  EventLog lb(*c, busy);
  ASSERT_TRUE(lb.wait_kind("approval_requested"));
  std::string waiting = new_session(*c, f, "my turn");
  json s = state_of(*c, waiting);
  EXPECT_EQ(s["state"], "queued");
  EXPECT_EQ(s["slot_queue_position"], 1);
  EXPECT_NE(s["reason"].get<std::string>().find("max_live 1"), std::string::npos) << s;
  EXPECT_EQ(c->request("status")["economy"]["waiting_for_slot"], 1);
  std::string ls;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket", f.d->socket(), "ls"}, &ls), 0);
  EXPECT_NE(ls.find("queued #1"), std::string::npos) << ls;
  // The busy one finishes its turn, is parked for the waiter, and the waiter runs.
  std::string approval = lb.of_kind("approval_requested")[0]["payload"]["id"];
  c->request("approval.answer", {{"id", approval}, {"decision", "allow"}});
  auto c2 = f.d->connect();  // one event log per client: a log drops other sessions' events
  EventLog lw(*c2, waiting);
  ASSERT_TRUE(lw.wait_kind("result"));
  EXPECT_EQ(lw.of_kind("result")[0]["payload"]["result"], "my turn");
  ASSERT_TRUE(lb.wait_kind("session_parked"));
  EXPECT_NE(lb.of_kind("session_parked")[0]["payload"]["reason"].get<std::string>().find("make room"), std::string::npos);
  EXPECT_EQ(state_of(*c, busy)["state"], "parked");
  // The parked one was gone before the waiter started: never two processes at once.
  EXPECT_LE(lb.of_kind("session_parked")[0]["ts"].get<int64_t>(), lw.of_kind("session_started")[0]["ts"].get<int64_t>());
}

namespace {
json warm_processes(Client& c);

// A fake claude whose start-up is broken (FAKE_CLAUDE_MODE); each start adds a line to `spawns`.
DaemonOptions broken_claude(const std::string& mode, const std::string& spawns, std::vector<std::string> claude_keys,
                            int warm_pool = 0) {
  DaemonOptions o;
  o.claude_env = {{"FAKE_CLAUDE_MODE", mode}, {"FAKE_CLAUDE_SPAWN_LOG", spawns}};
  o.claude_keys = std::move(claude_keys);
  o.warm_pool = warm_pool;
  return o;
}

size_t spawn_count(const std::string& spawns) {
  if (!std::filesystem::exists(spawns)) return 0;
  std::string text = read_file(spawns);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

bool wait_spawns(const std::string& spawns, size_t n, int ms = 10000) {
  for (int i = 0; i < ms / 20 && spawn_count(spawns) < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return spawn_count(spawns) >= n;
}

bool wait_pid_gone(pid_t pid, int ms = 5000) {
  for (int i = 0; i < ms / 20 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return kill(pid, 0) != 0;
}

// Collects a session's events for `ms` (no event of that kind ever comes).
void drain(EventLog& log, int ms) { log.wait_kind("no-such-kind", ms); }
}  // namespace

TEST(Economy, StopWhileClaudeIsStartingEndsTheSessionForGood) {
  TempDir logs;
  std::string spawns = logs.path + "/spawns";
  FakeDaemon f(broken_claude("no_stdin", spawns, {}));  // ignores stdin EOF: stop needs its signals
  auto c = f.d->connect();
  std::string id = new_session(*c, f, "hello");
  EventLog log(*c, id);
  ASSERT_TRUE(wait_spawns(spawns, 1));
  EXPECT_EQ(state_of(*c, id)["state"], "starting");
  pid_t pid = state_of(*c, id)["pid"];
  ASSERT_GT(pid, 0);
  c->request("session.stop", {{"session", id}});
  ASSERT_TRUE(log.wait_kind("session_exited", 10000)) << state_of(*c, id);  // stop_grace 3 s, then SIGTERM
  EXPECT_EQ(log.of_kind("session_exited")[0]["payload"]["reason"], "stopped");
  EXPECT_TRUE(wait_pid_gone(pid));
  drain(log, 1500);
  json s = state_of(*c, id);
  EXPECT_EQ(s["state"], "exited") << s;
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(spawn_count(spawns), 1u) << "started again after the stop";
  EXPECT_EQ(log.of_kind("session_started").size(), 1u);
  EXPECT_TRUE(log.of_kind("session_crashed").empty());
}

TEST(Economy, AClaudeThatNeverAnswersInitializeFailsAfterTheStartTimeout) {
  for (std::string mode : {"no_init", "no_stdin"}) {
    SCOPED_TRACE(mode);
    TempDir logs;
    std::string spawns = logs.path + "/spawns";
    // 3 s: the fake (python) itself may take a second to start on a busy machine.
    FakeDaemon f(broken_claude(mode, spawns, {"start_timeout: 3", "restart_backoff: 0.1", "crash_limit: 2"}));
    auto c = f.d->connect();
    std::string id = new_session(*c, f, "hello");
    EventLog log(*c, id);
    // Two starts of 3 s each plus a SIGTERM grace: ~10 s idle; 60 s for a loaded CI machine.
    ASSERT_TRUE(log.wait_kind("session_failed", 60000)) << state_of(*c, id);
    auto crashes = log.of_kind("session_crashed");
    ASSERT_EQ(crashes.size(), 1u);
    EXPECT_NE(crashes[0]["payload"]["reason"].get<std::string>().find("did not answer initialize within 3 s"),
              std::string::npos)
        << crashes[0];
    std::string reason = state_of(*c, id)["reason"];
    EXPECT_EQ(state_of(*c, id)["state"], "failed");
    EXPECT_NE(reason.find("gave up after 2 crashes"), std::string::npos) << reason;
    EXPECT_NE(reason.find("did not answer initialize within 3 s"), std::string::npos) << reason;
    EXPECT_NE(reason.find("fake claude: start-up mode " + mode), std::string::npos) << reason;
    for (auto& start : log.of_kind("session_started")) EXPECT_TRUE(wait_pid_gone(start["payload"]["pid"]));
    drain(log, 1000);
    EXPECT_EQ(spawn_count(spawns), 2u);
  }
}

TEST(Economy, AWarmClaudeThatExitsAtOnceOrNeverAnswersIsNotRespawnedInALoop) {
  for (std::string mode : {"exit0", "no_init"}) {
    SCOPED_TRACE(mode);
    TempDir logs;
    std::string spawns = logs.path + "/spawns";
    FakeDaemon f(broken_claude(mode, spawns, {"start_timeout: 3", "crash_limit: 1"}, 1));
    auto c = f.d->connect();
    std::string id = new_session(*c, f, "hello");  // fails at its first start; its project becomes the recent one
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_kind("session_failed", 20000));
    ASSERT_TRUE(wait_spawns(spawns, 2)) << "the pool never started a warm claude";
    drain(log, 5000);  // many pool ticks, past the warm one's start timeout
    EXPECT_EQ(spawn_count(spawns), 2u) << "one session start, one warm start";
    EXPECT_TRUE(warm_processes(*c).empty()) << warm_processes(*c);
    ASSERT_EQ(log.of_kind("session_started").size(), 1u);
    pid_t session_pid = log.of_kind("session_started")[0]["payload"]["pid"];
    std::istringstream pids(read_file(spawns));
    for (pid_t pid; pids >> pid;) {
      if (pid == session_pid) continue;
      EXPECT_TRUE(wait_pid_gone(pid)) << "the warm claude " << pid << " is still running";
    }
  }
}

TEST(Economy, WarmPoolTargetFollowsAvailableMemory) {
  const int64_t mb = 1 << 20;
  EXPECT_EQ(warm_pool_target(0, 0, 8000 * mb, 1024 * mb, 350 * mb), 0u);       // off
  EXPECT_EQ(warm_pool_target(2, 0, 8000 * mb, 1024 * mb, 350 * mb), 2u);       // plenty
  EXPECT_EQ(warm_pool_target(2, 2, 1000 * mb, 1024 * mb, 350 * mb), 0u);       // under the reserve: empty it
  EXPECT_EQ(warm_pool_target(2, 1, 1200 * mb, 1024 * mb, 350 * mb), 1u);       // in between: keep, do not grow
  EXPECT_EQ(warm_pool_target(2, 0, 1200 * mb, 1024 * mb, 350 * mb), 0u);
  EXPECT_EQ(warm_pool_target(2, 0, 0, 1024 * mb, 350 * mb), 2u);               // no /proc/meminfo
}

TEST(Economy, DefaultMaxLiveLeavesTheReserveAndIsAtLeastOne) {
  const int64_t mb = 1 << 20;
  EXPECT_EQ(default_max_live(24576 * mb, 1024 * mb, 350 * mb), 67u);
  EXPECT_EQ(default_max_live(1024 * mb, 1024 * mb, 350 * mb), 1u);
  EXPECT_EQ(default_max_live(0, 1024 * mb, 350 * mb), 8u);
}

namespace {
json warm_processes(Client& c) { return c.request("status")["economy"]["warm_pool"]["processes"]; }

pid_t wait_warm_ready(Client& c, int ms = 15000) {
  for (int i = 0; i < ms / 50; ++i) {
    json procs = warm_processes(c);
    if (!procs.empty() && procs[0]["ready"].get<bool>()) return procs[0]["pid"];
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}
}  // namespace

TEST(Economy, TheWarmPoolServesTheRecentProjectAndEndsWithTheDaemon) {
  DaemonOptions o;
  o.warm_pool = 1;
  FakeDaemon f(o);
  auto c = f.d->connect();
  EXPECT_TRUE(warm_processes(*c).empty()) << "no project used yet: nothing to warm";
  std::string first = new_session(*c, f, "first");
  pid_t warm = wait_warm_ready(*c);
  ASSERT_GT(warm, 0);
  EXPECT_EQ(warm_processes(*c)[0]["cwd"], state_of(*c, first)["cwd"]);
  std::string second = new_session(*c, f, "second");
  EventLog log(*c, second);
  ASSERT_TRUE(log.wait_kind("result"));
  // The session ran on the warm process: started from the pool, with its pid, and that
  // process answered the turn under the session's claude session id.
  ASSERT_EQ(log.of_kind("session_started").size(), 1u);
  json started = log.of_kind("session_started")[0]["payload"];
  EXPECT_TRUE(started.value("warm", false)) << "the session did not take the warm claude: " << started;
  EXPECT_EQ(started["pid"], warm);
  EXPECT_EQ(log.of_kind("result")[0]["payload"]["session_id"], state_of(*c, second)["claude_session_id"]);
  EXPECT_EQ(state_of(*c, second)["pid"], warm);
  pid_t refill = wait_warm_ready(*c);  // refilled after the take
  ASSERT_GT(refill, 0);
  EXPECT_NE(refill, warm);
  c.reset();
  f.d->terminate();
  EXPECT_NE(kill(refill, 0), 0) << "the warm claude outlived ccmuxd";
}

TEST(Economy, TheWarmPoolStaysEmptyWhenMemoryIsShort) {
  // The same steps with a reserve the machine has and one it cannot have: the pool warms the
  // project in the first daemon (so emptiness in the second is the memory rule, not a pool that
  // never starts anything).
  for (bool short_of_memory : {false, true}) {
    SCOPED_TRACE(short_of_memory ? "reserve above the machine's memory" : "reserve 0");
    DaemonOptions o;
    o.warm_pool = 2;
    FakeDaemon f(with_keys({short_of_memory ? "memory_reserve_mb: 100000000" : "memory_reserve_mb: 0"}, o));
    auto c = f.d->connect();
    std::string id = new_session(*c, f, "hello");
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_kind("result"));
    if (!short_of_memory) {
      EXPECT_GT(wait_warm_ready(*c), 0) << "with memory to spare the pool warms the recent project";
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    EXPECT_TRUE(warm_processes(*c).empty()) << warm_processes(*c);
    EXPECT_EQ(c->request("status")["economy"]["warm_pool"]["capacity"], 2);
  }
}

TEST(Economy, TheWarmPoolEmptiesWhenNoSessionStartsForALongWhile) {
  DaemonOptions o;
  o.warm_pool = 1;
  FakeDaemon f(with_keys({"warm_pool_idle: 3"}, o));
  auto c = f.d->connect();
  std::string first = new_session(*c, f, "first");
  pid_t warm = wait_warm_ready(*c);
  ASSERT_GT(warm, 0);
  bool emptied = false;
  for (int i = 0; i < 200 && !emptied; ++i) {
    emptied = warm_processes(*c).empty();
    if (!emptied) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(emptied) << "the warm claude was kept after warm_pool_idle";
  for (int i = 0; i < 40 && kill(warm, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(kill(warm, 0), 0) << "its process is still running";
  // The next session starts cold and makes the project recent again.
  std::string next = new_session(*c, f, "next");
  EventLog log(*c, next);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_FALSE(log.of_kind("session_started")[0]["payload"].value("warm", false));
  EXPECT_GT(wait_warm_ready(*c), 0);
}
