// Session economy against the real claude + fake Messages API: parking and resuming with
// history, the live limit, a warm-pool start, and a crash loop that gives up with the reason.
#include "e2e.h"

#include <atomic>
#include <csignal>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
json session(Client& c, const std::string& id) { return c.request("session.get", {{"session", id}}); }

bool pid_alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

class EconomyE2E : public E2E {
 protected:
  void SetUp() override {}  // each test starts its daemon with its own settings
  void start_with(std::vector<std::string> claude_keys, int warm_pool = 0) {
    DaemonOptions o;
    o.claude_keys = std::move(claude_keys);
    o.warm_pool = warm_pool;
    start(o);
  }
  int messages_in(const json& result) {
    return std::stoi(result["result"].get<std::string>().substr(std::string("messages: ").size()));
  }
};
}  // namespace

TEST_F(EconomyE2E, AnIdleSessionIsParkedAndTheNextPromptResumesItWithItsHistory) {
  start_with({"park_after: 2"});
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: remember the parrot");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("result"));
  json before = session(*a, id);
  pid_t pid = before["pid"];
  ASSERT_TRUE(log.wait_kind("session_parked", 30000));
  json parked = session(*a, id);
  EXPECT_EQ(parked["state"], "parked");
  EXPECT_EQ(parked["pid"], 0);
  for (int i = 0; i < 100 && pid_alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pid_alive(pid)) << "the parked session's claude is still running";
  std::string ls;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket", daemon->socket(), "ls"}, &ls), 0);
  EXPECT_NE(ls.find("parked"), std::string::npos) << ls;

  a->request("session.send", {{"session", id}, {"prompt", "count messages"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }));
  json result = log.of_kind("result")[1]["payload"];
  EXPECT_EQ(result["session_id"], before["claude_session_id"]);
  EXPECT_EQ(result["session_id"], log.of_kind("result")[0]["payload"]["session_id"]);
  EXPECT_EQ(log.of_kind("session_started").back()["payload"]["resume"], true);
  EXPECT_GE(messages_in(result), 3) << "the first turn is not in the resumed history: " << result;
  EXPECT_EQ(session(*a, id)["cwd"], before["cwd"]);
}

TEST_F(EconomyE2E, TheLiveLimitParksTheLeastRecentlyUsedSession) {
  start_with({"max_live: 2"});
  auto a = daemon->connect(), b = daemon->connect(), c = daemon->connect();
  std::string one = new_session(*a, "echo: one");
  EventLog l1(*a, one);
  ASSERT_TRUE(l1.wait_kind("result"));
  std::string two = new_session(*b, "echo: two");
  EventLog l2(*b, two);
  ASSERT_TRUE(l2.wait_kind("result"));
  a->request("session.send", {{"session", one}, {"prompt", "echo: one again"}});
  ASSERT_TRUE(l1.wait_for([&](const json&) { return l1.of_kind("result").size() == 2; }));
  std::string three = new_session(*c, "echo: three");
  EventLog l3(*c, three);
  ASSERT_TRUE(l3.wait_kind("result"));
  ASSERT_TRUE(l2.wait_kind("session_parked"));
  EXPECT_EQ(session(*a, two)["state"], "parked");
  EXPECT_EQ(session(*a, one)["state"], "idle");
  EXPECT_EQ(a->request("status")["live_processes"], 2);
  // The parked one comes back (parking `one`, now the least recent) with its history.
  b->request("session.send", {{"session", two}, {"prompt", "count messages"}});
  ASSERT_TRUE(l2.wait_for([&](const json&) { return l2.of_kind("result").size() == 2; }));
  EXPECT_GE(messages_in(l2.of_kind("result")[1]["payload"]), 3);
  ASSERT_TRUE(l1.wait_kind("session_parked"));
  EXPECT_LE(a->request("status")["live_processes"].get<int>(), 2);
}

TEST_F(EconomyE2E, AWarmPoolStartIsUsedAndItsSessionIsNormalInEveryWay) {
  start_with({}, 1);
  auto a = daemon->connect(true);
  std::string first = new_session(*a, "echo: cold start");  // makes this project the recent one
  EventLog l1(*a, first);
  ASSERT_TRUE(l1.wait_kind("result"));
  EXPECT_FALSE(l1.of_kind("session_started")[0]["payload"].value("warm", false));
  // The pool fills a couple of seconds after a start.
  pid_t warm_pid = 0;
  for (int i = 0; i < 300 && !warm_pid; ++i) {
    json procs = a->request("status")["economy"]["warm_pool"]["processes"];
    if (!procs.empty() && procs[0]["ready"].get<bool>()) warm_pid = procs[0]["pid"];
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(warm_pid, 0) << "no warm claude appeared";

  auto b = daemon->connect(true);
  std::string id = b->request("session.new", {{"cwd", daemon->project()}, {"prompt", bash("echo warm > warm.txt")}})["id"];
  EventLog log(*b, id);
  ASSERT_TRUE(log.wait_kind("approval_requested"));
  ASSERT_EQ(log.of_kind("session_started").size(), 1u);
  json started = log.of_kind("session_started")[0]["payload"];
  ASSERT_TRUE(started.value("warm", false)) << "the session did not take the warm claude: " << started;
  EXPECT_EQ(started["pid"], warm_pid);
  json info = session(*b, id);
  EXPECT_EQ(info["pid"], warm_pid);
  // Normal: the approval goes through the chain and is answered; the tool runs; deltas stream.
  std::string approval = log.of_kind("approval_requested")[0]["payload"]["id"];
  b->request("approval.answer", {{"id", approval}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_EQ(read_file(daemon->project() + "/warm.txt"), "warm\n");
  EXPECT_EQ(log.of_kind("result")[0]["payload"]["session_id"], info["claude_session_id"]);
  EXPECT_EQ(log.of_kind("system")[0]["payload"]["session_id"], info["claude_session_id"]);
  b->request("session.send", {{"session", id}, {"prompt", "echo: streamed after warm"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }));
  EXPECT_NE(log.streamed_text().find("streamed after warm"), std::string::npos);
  // Stopped and resumed like any session: same claude session, full history.
  b->request("session.stop", {{"session", id}});
  ASSERT_TRUE(log.wait_kind("session_exited"));
  b->request("session.send", {{"session", id}, {"prompt", "count messages"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 3; }));
  EXPECT_EQ(log.of_kind("session_started").back()["payload"]["resume"], true);
  EXPECT_EQ(log.of_kind("result")[2]["payload"]["session_id"], info["claude_session_id"]);
  EXPECT_GE(messages_in(log.of_kind("result")[2]["payload"]), 3) << "no history after the resume";
}

TEST_F(EconomyE2E, AClaudeThatKeepsCrashingBacksOffAndGivesUpWithItsReason) {
  // A flag the real CLI rejects: it exits 1 at start-up with "error: unknown option", every time.
  start_with({"extra_args: [\"--no-such-flag\"]", "restart_backoff: 0.2", "crash_limit: 3", "crash_window: 120"});
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: never answered");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("session_failed"));
  auto crashes = log.of_kind("session_crashed");
  ASSERT_EQ(crashes.size(), 2u);
  EXPECT_DOUBLE_EQ(crashes[0]["payload"]["restart_in_s"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(crashes[1]["payload"]["restart_in_s"].get<double>(), 0.4);
  EXPECT_EQ(crashes[0]["payload"]["exit_code"], 1);
  json failed = log.of_kind("session_failed")[0]["payload"];
  EXPECT_TRUE(failed["gave_up"].get<bool>());
  EXPECT_NE(failed["stderr_tail"].dump().find("unknown option '--no-such-flag'"), std::string::npos) << failed;
  json info = session(*a, id);
  EXPECT_EQ(info["state"], "failed");
  EXPECT_NE(info["reason"].get<std::string>().find("gave up after 3 crashes"), std::string::npos) << info;
  EXPECT_NE(info["reason"].get<std::string>().find("--no-such-flag"), std::string::npos) << info;
  std::string ls;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket", daemon->socket(), "ls"}, &ls), 0);
  EXPECT_NE(ls.find("failed"), std::string::npos) << ls;
}

TEST_F(EconomyE2E, ManySessionsUnderASmallLimitAllFinishTwoTurnsWithTheirHistory) {
  start_with({"max_live: 3"});
  auto a = daemon->connect();
  auto watcher = daemon->connect();
  std::atomic<bool> done{false};
  int peak = 0;
  std::thread sample([&] {  // processes held, exiting ones included, never above the limit
    while (!done) {
      peak = std::max(peak, watcher->request("status")["economy"]["live"].get<int>());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const int n = 8;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(new_session(*a, "echo: session " + std::to_string(i)));
  auto wait_turns = [&](int turns) {
    for (auto& id : ids)
      for (int k = 0; k < 1200 && session(*a, id)["turns"].get<int>() < turns; ++k)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
  };
  wait_turns(1);
  for (auto& id : ids) a->request("session.send", {{"session", id}, {"prompt", "count messages"}});
  wait_turns(2);
  done = true;
  sample.join();
  EXPECT_LE(peak, 3);
  int parked = 0;
  for (auto& id : ids) {
    auto c = daemon->connect();
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }, 10000)) << id;
    auto results = log.of_kind("result");
    EXPECT_EQ(results[0]["payload"]["result"], "session " + std::to_string(&id - &ids[0]));
    EXPECT_EQ(results[1]["payload"]["session_id"], results[0]["payload"]["session_id"]) << id;
    EXPECT_GE(messages_in(results[1]["payload"]), 3) << id << " lost its history";
    parked += static_cast<int>(log.of_kind("session_parked").size());
  }
  EXPECT_GE(parked, n - 3) << "with 8 sessions and 3 slots most must have been parked at least once";
}
