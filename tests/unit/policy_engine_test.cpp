// The policy engine runs scripts in the policy worker process: hangs that escape the
// instruction budget (the pattern matcher, fnmatch) are stopped by the wall clock, a dead
// worker is replaced, and whatever fails, the answer is "ask" — never a hang or a crash.
#include "approvals/policy_engine.h"
#include "harness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

using namespace ccmux;
using nlohmann::json;

namespace {
PolicyRequest req(const std::string& tool, json input = json::object()) {
  return PolicyRequest{tool, std::move(input), "s-1", "/tmp", "", json::array()};
}
PolicyEngine::Options fast(double timeout_s = 0.5) {
  PolicyEngine::Options o;
  o.timeout_s = timeout_s;
  return o;
}
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
const char* kPatternHang = "function decide(r) if r.tool == 'Slow' then (\"a\"):rep(3000):find((\"a*\"):rep(20)..\"b\") end "
                           "return 'allow', 'fine' end";
}  // namespace

TEST(PolicyEngine, ThePatternMatcherIsStoppedByTheWallClockAndTheNextCallWorks) {
  test::TempDir t;
  test::write_file(t.path + "/slow.lua", kPatternHang);
  test::write_file(t.path + "/other.lua", "function decide(r) return 'deny', 'other' end");
  EventLoop loop;
  PolicyEngine e(loop, fast(0.3));
  ASSERT_TRUE(e.load_sync({t.path + "/slow.lua", t.path + "/other.lua"}).empty());
  int first_pid = e.worker_pid();
  ASSERT_GT(first_pid, 0);
  auto start = std::chrono::steady_clock::now();
  auto d = e.evaluate_sync(req("Slow"));
  EXPECT_LT(since(start), 5.0);
  EXPECT_EQ(d.verdict.decision, "deny") << "the next script still decides: " << d.verdict.reason;
  EXPECT_TRUE(d.fail_closed);
  EXPECT_EQ(d.decided_by, "policy:" + t.path + "/other.lua");
  // The hung worker was killed and a new one has both scripts again.
  auto next = e.evaluate_sync(req("Fast"));
  EXPECT_EQ(next.verdict.decision, "allow");
  EXPECT_EQ(next.verdict.reason, "fine");
  EXPECT_NE(e.worker_pid(), first_pid);
  EXPECT_EQ(kill(first_pid, 0), -1) << "the hung worker is gone";
}

TEST(PolicyEngine, AHangReportsWhichScriptRanTooLong) {
  test::TempDir t;
  test::write_file(t.path + "/slow.lua", kPatternHang);
  EventLoop loop;
  PolicyEngine e(loop, fast(0.3));
  ASSERT_TRUE(e.load_sync({t.path + "/slow.lua"}).empty());
  auto d = e.evaluate_sync(req("Slow"));
  EXPECT_EQ(d.verdict.decision, "ask");
  EXPECT_NE(d.verdict.error.find(t.path + "/slow.lua: ran longer than 300 ms"), std::string::npos) << d.verdict.error;
  EXPECT_EQ(d.decided_by, "policy:" + t.path + "/slow.lua");
}

TEST(PolicyEngine, AnAllowAfterAFailedScriptIsNotTrusted) {
  test::TempDir t;
  test::write_file(t.path + "/broken.lua", "function decide(r) error('bug') end");
  test::write_file(t.path + "/allow.lua", "function decide(r) return 'allow' end");
  EventLoop loop;
  PolicyEngine e(loop, fast());
  ASSERT_TRUE(e.load_sync({t.path + "/broken.lua", t.path + "/allow.lua"}).empty());
  auto d = e.evaluate_sync(req("Bash"));
  EXPECT_EQ(d.verdict.decision, "ask");
  EXPECT_TRUE(d.fail_closed);
  EXPECT_NE(d.verdict.error.find("bug"), std::string::npos) << d.verdict.error;
}

TEST(PolicyEngine, AConfiguredScriptThatNeverLoadedFailsClosed) {
  test::TempDir t;
  test::write_file(t.path + "/allow.lua", "function decide(r) return 'allow' end");
  EventLoop loop;
  PolicyEngine e(loop, fast());
  auto errors = e.load_sync({t.path + "/missing.lua", t.path + "/allow.lua"});
  ASSERT_EQ(errors.size(), 1u);
  auto d = e.evaluate_sync(req("Bash"));
  EXPECT_EQ(d.verdict.decision, "ask");
  EXPECT_TRUE(d.fail_closed);
  EXPECT_NE(d.verdict.error.find("missing.lua"), std::string::npos) << d.verdict.error;
}

TEST(PolicyEngine, TooDeepInputIsNotSentToTheScriptsAndAsks) {
  EventLoop loop;
  PolicyEngine e(loop, fast());
  ASSERT_TRUE(e.load_sync({"builtin:default"}).empty());
  json deep = "x";
  for (int i = 0; i < 5000; ++i) {
    json outer = json::array();
    outer.push_back(std::move(deep));
    deep = std::move(outer);
  }
  auto d = e.evaluate_sync(req("Read", {{"file_path", "a"}, {"n", deep}}));
  EXPECT_EQ(d.verdict.decision, "ask");
  EXPECT_TRUE(d.fail_closed);
  EXPECT_EQ(d.decided_by, "ccmux");
  EXPECT_NE(d.verdict.reason.find("nested deeper than 64"), std::string::npos) << d.verdict.reason;
}

TEST(PolicyEngine, AReloadWhoseTopLevelHangsKeepsThePreviousVersion) {
  test::TempDir t;
  std::string f = t.path + "/p.lua";
  test::write_file(f, "function decide(r) return 'deny', 'v1' end");
  EventLoop loop;
  PolicyEngine e(loop, fast(0.3));
  ASSERT_TRUE(e.load_sync({f}).empty());
  test::write_file(f, "(\"a\"):rep(3000):find((\"a*\"):rep(20)..\"b\")\nfunction decide(r) return 'allow' end");
  auto start = std::chrono::steady_clock::now();
  auto errors = e.load_sync({f});
  EXPECT_LT(since(start), 5.0);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("ran longer than"), std::string::npos) << errors[0];
  auto d = e.evaluate_sync(req("Bash"));
  EXPECT_EQ(d.verdict.reason, "v1") << "the worker was restarted with the version that loaded";
  EXPECT_EQ(d.verdict.decision, "deny");
}

TEST(PolicyEngine, AWorkerKilledMidCallAnswersAskAndTheNextCallGetsANewWorker) {
  test::TempDir t;
  test::write_file(t.path + "/p.lua", "function decide(r) if r.tool == 'Spin' then while true do end end return 'allow' end");
  EventLoop loop;
  PolicyEngine::Options o = fast(30);
  o.limits.instructions = 2'000'000'000;  // the wall clock is not what stops it here
  PolicyEngine e(loop, o);
  ASSERT_TRUE(e.load_sync({t.path + "/p.lua"}).empty());
  int pid = e.worker_pid();
  std::thread killer([pid] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(pid, SIGKILL);  // as a crash in a C binding would end it
  });
  auto d = e.evaluate_sync(req("Spin"));
  killer.join();
  EXPECT_EQ(d.verdict.decision, "ask");
  EXPECT_NE(d.verdict.error.find("crashed (killed by signal 9)"), std::string::npos) << d.verdict.error;
  EXPECT_EQ(e.evaluate_sync(req("Read")).verdict.decision, "allow");
  EXPECT_EQ(e.worker_starts(), 2u);
}

TEST(PolicyEngine, AWorkerThatCannotStartMakesEveryDecisionAsk) {
  EventLoop loop;
  PolicyEngine::Options o = fast();
  o.worker_exe = "/nonexistent/ccmuxd";
  PolicyEngine e(loop, o);
  auto errors = e.load_sync({"builtin:default"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("cannot start the policy worker"), std::string::npos) << errors[0];
  auto d = e.evaluate_sync(req("Read", {{"file_path", "/tmp/x"}}));
  EXPECT_EQ(d.verdict.decision, "ask");
  EXPECT_TRUE(d.fail_closed);
}

TEST(PolicyEngine, TheLoopIsNeverBlockedWhileAScriptHangs) {
  test::TempDir t;
  test::write_file(t.path + "/slow.lua", kPatternHang);
  EventLoop loop;
  PolicyEngine e(loop, fast(1.0));
  ASSERT_TRUE(e.load_sync({t.path + "/slow.lua"}).empty());
  int ticks = 0;
  bool decided = false;
  auto tick = loop.every(0.05, [&] { ++ticks; });
  e.evaluate(req("Slow"), [&](PolicyEngine::Decision) {
    decided = true;
    loop.stop();
  });
  EXPECT_FALSE(decided) << "the answer comes from the worker, later";
  loop.run();
  loop.cancel_timer(tick);
  EXPECT_TRUE(decided);
  // A blocked loop fires a 50 ms timer at most once after a 1 s hang; a free one ~20 times.
  // 3 leaves room for a machine so loaded that most ticks are late, and still fails when blocked.
  EXPECT_GE(ticks, 3) << "timers kept running during the 1 s the script hung";
}
