#include "e2e.h"

#include <csignal>
#include <filesystem>
#include <sstream>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
// Alive and not a zombie (an orphan may wait a while for whoever reaps it).
bool process_alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] != 'Z';
}
int wait_pid_gone(pid_t pid, int ms) {
  for (int i = 0; i < ms / 50 && process_alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return process_alive(pid) ? 1 : 0;
}
}  // namespace

// claude as ccmuxd's own child (claude.hold: false): what a restart means without holders.
// The held default is in held_e2e_test.cpp.
class UnheldE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.claude_keys = {"hold: false"};
    start(o);
  }
};

TEST_F(UnheldE2E, Kill9OfDaemonMidTurnLosesNothingAndSendResumesTheClaudeSession) {
  std::string id, claude_sid;
  pid_t orphan = 0;
  std::vector<json> seen;
  {
    auto a = daemon->connect();
    id = new_session(*a, "sleep: 3 then answer after the crash");
    EventLog log(*a, id);
    ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "system"; }));
    json info = a->request("session.get", {{"session", id}});
    claude_sid = info["claude_session_id"];
    orphan = info["pid"];
    seen = log.events();
    daemon->kill9();
  }
  daemon->start();
  auto b = daemon->connect();
  EventLog after(*b, id);
  ASSERT_TRUE(after.wait_kind("session_exited", 10000));
  ASSERT_GE(after.events().size(), seen.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(after.events()[i]["seq"], seen[i]["seq"]);
    EXPECT_EQ(after.events()[i]["kind"], seen[i]["kind"]);
    EXPECT_EQ(after.events()[i]["payload"], seen[i]["payload"]);
  }
  // The orphaned claude finishes its turn on stdin EOF, writes its transcript and exits.
  EXPECT_EQ(wait_pid_gone(orphan, 30000), 0) << "claude did not end after losing ccmuxd";
  b->request("session.send", {{"session", id}, {"prompt", "count messages"}});
  ASSERT_TRUE(after.wait_kind("result"));
  auto result = after.of_kind("result").back()["payload"];
  EXPECT_EQ(result["session_id"], claude_sid);
  auto starts = after.of_kind("session_started");
  EXPECT_EQ(starts.back()["payload"]["resume"], true);
  // History: first prompt, its answer, and the new prompt reach the API.
  int n = std::stoi(result["result"].get<std::string>().substr(std::string("messages: ").size()));
  EXPECT_GE(n, 3) << result["result"];
}

TEST_F(E2E, CrashedClaudeIsRestartedByItselfWithResumeAndKeepsItsHistory) {
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: first turn");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("result"));
  a->request("session.send", {{"session", id}, {"prompt", "sleep: 20 then never"}});
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "prompt_sent" && e["payload"]["prompt_id"] == 2; }));
  pid_t pid = a->request("session.get", {{"session", id}})["pid"];
  ASSERT_GT(pid, 0);
  kill(pid, SIGSEGV);
  ASSERT_TRUE(log.wait_kind("session_crashed"));
  json crash = log.of_kind("session_crashed")[0]["payload"];
  EXPECT_EQ(crash["signal"], SIGSEGV);
  EXPECT_DOUBLE_EQ(crash["restart_in_s"].get<double>(), 0.5);  // the default first backoff
  // Back by itself, resuming the same claude session.
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("session_started").size() == 2; }));
  EXPECT_EQ(log.of_kind("session_started")[1]["payload"]["resume"], true);
  a->request("session.send", {{"session", id}, {"prompt", "count messages"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }));
  EXPECT_EQ(log.of_kind("session_started").size(), 2u);
  EXPECT_EQ(log.of_kind("result").back()["payload"]["session_id"], log.of_kind("result")[0]["payload"]["session_id"]);
}

class HangE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.idle_timeout_s = 2;
    start(o);
  }
};

TEST_F(HangE2E, ClaudeSilentDuringATurnIsKilledAsHungAndRestarted) {
  auto a = daemon->connect();
  std::string id = new_session(*a, "sleep: 60 then too late");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("session_crashed", 30000));
  EXPECT_NE(log.of_kind("session_crashed")[0]["payload"]["reason"].get<std::string>().find("hung"), std::string::npos);
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("session_started").size() == 2; }));
}

TEST_F(E2E, InterruptEndsTheTurnAndTheSessionTakesTheNextPrompt) {
  auto a = daemon->connect();
  std::string id = new_session(*a, "sleep: 20 then never");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "system"; }));
  a->request("session.interrupt", {{"session", id}});
  ASSERT_TRUE(log.wait_kind("result", 15000));
  EXPECT_TRUE(log.of_kind("result")[0]["payload"]["is_error"].get<bool>());
  a->request("session.send", {{"session", id}, {"prompt", "echo: still here"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }));
  EXPECT_EQ(log.of_kind("result")[1]["payload"]["result"], "still here");
  EXPECT_EQ(log.of_kind("session_started").size(), 1u) << "same process throughout";
}

TEST_F(UnheldE2E, StopIsGracefulAndSigtermStopsEverything) {
  auto a = daemon->connect();
  std::string one = new_session(*a, "echo: one");
  std::string two = new_session(*a, "echo: two");
  EventLog l1(*a, one);
  ASSERT_TRUE(l1.wait_kind("result"));
  a->request("session.stop", {{"session", one}});
  ASSERT_TRUE(l1.wait_kind("session_exited"));
  EXPECT_EQ(l1.of_kind("session_exited")[0]["payload"]["reason"], "stopped");
  EventLog l2(*a, two);
  ASSERT_TRUE(l2.wait_kind("result"));
  pid_t pid = a->request("session.get", {{"session", two}})["pid"];
  ASSERT_TRUE(process_alive(pid));
  a.reset();
  daemon->terminate();
  EXPECT_EQ(wait_pid_gone(pid, 5000), 0) << "claude outlived ccmuxd";
  EXPECT_NE(daemon->log().find("ccmuxd stopped"), std::string::npos);
}

TEST_F(UnheldE2E, AttachReconnectsAfterADaemonRestartWithNoGapAndNoDuplicate) {
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: before the restart");
  {
    EventLog log(*a, id);
    ASSERT_TRUE(log.wait_kind("result"));
  }
  a.reset();
  std::string out;
  int rc = -1;
  std::thread attach([&] { rc = run_command({ccmux_bin(), "--socket=" + daemon->socket(), "attach", id, "--json"}, &out); });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  daemon->kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  daemon->start();  // recovery marks the session exited: attach sees that and ends
  attach.join();
  EXPECT_EQ(rc, 0) << out;
  std::vector<uint64_t> seqs;
  bool saw_exit = false;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    json m = json::parse(line, nullptr, false);
    if (!m.is_object()) continue;
    seqs.push_back(m["seq"]);
    saw_exit = saw_exit || m["kind"] == "session_exited";
  }
  ASSERT_FALSE(seqs.empty());
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1) << "gap or duplicate at line " << i;
  EXPECT_TRUE(saw_exit);
}

TEST_F(E2E, ClaudeRefusingToStartIsRetriedWithBackoffThenGivenUpWithItsReason) {
  if (geteuid() != 0) GTEST_SKIP() << "claude refuses bypassPermissions only as root";
  auto a = daemon->connect();
  std::string id = a->request("session.new", {{"cwd", daemon->project()},
                                              {"prompt", "echo: never"},
                                              {"permission_mode", "bypassPermissions"}})["id"];
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("session_failed"));  // defaults: 5 crashes, 0.5+1+2+4 s apart
  std::string reason = log.of_kind("session_failed")[0]["payload"]["reason"];
  EXPECT_NE(reason.find("gave up after 5 crashes"), std::string::npos) << reason;
  EXPECT_NE(reason.find("root"), std::string::npos) << reason;
  EXPECT_EQ(log.of_kind("session_crashed").size(), 4u);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  log.wait_kind("no-such-kind", 100);
  EXPECT_EQ(log.of_kind("session_started").size(), 5u) << "restarted after giving up";
  auto info = a->request("session.get", {{"session", id}});
  EXPECT_EQ(info["state"], "failed");
  EXPECT_EQ(info["queued_prompts"], 1) << "the prompt waits for the next send";
}

namespace {
// Each test starts its daemon with its own claude settings.
class StartE2E : public E2E {
 protected:
  void SetUp() override {}
  void start_with(std::vector<std::string> claude_keys) {
    DaemonOptions o;
    o.claude_keys = std::move(claude_keys);
    start(o);
  }
  // claude settings whose SessionStart hook never ends: claude answers initialize only after
  // its SessionStart hooks, so it stays starting. The tag finds the hook's processes.
  std::string stuck_settings() {
    json hook = {{"type", "command"}, {"command", "sleep 300; : " + tag()}};
    json settings = {{"hooks", {{"SessionStart", json::array({{{"hooks", json::array({hook})}}})}}}};
    return policy_file(dir, "stuck-settings.json", settings.dump());
  }
  std::string tag() const { return "ccmux-stuck-" + dir.path; }  // one per test
  // Processes whose command line holds the tag (the hook's shell and its sleep).
  int tagged_processes() {
    int n = 0;
    for (auto& p : std::filesystem::directory_iterator("/proc")) {
      std::string name = p.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmd;
      try {
        cmd = read_file(p.path().string() + "/cmdline");
      } catch (...) {
        continue;
      }
      if (cmd.find(tag()) != std::string::npos && process_alive(std::stoi(name))) ++n;
    }
    return n;
  }
};

void drain(EventLog& log, int ms) { log.wait_kind("no-such-kind", ms); }
}  // namespace

TEST_F(StartE2E, ARealClaudeThatExitsZeroAtOnceBacksOffAndFailsInBoundedTime) {
  // `--version` makes the real CLI print its version and exit 0 before reading anything.
  start_with({"extra_args: [\"--version\"]", "restart_backoff: 0.2", "crash_limit: 3", "crash_window: 120"});
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: never answered");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("session_failed", 60000)) << log.of_kind("session_started").size() << " starts";
  auto crashes = log.of_kind("session_crashed");
  ASSERT_EQ(crashes.size(), 2u);
  EXPECT_EQ(crashes[0]["payload"]["exit_code"], 0);
  EXPECT_NE(crashes[0]["payload"]["reason"].get<std::string>().find("exited with code 0 before answering initialize"),
            std::string::npos)
      << crashes[0];
  json info = a->request("session.get", {{"session", id}});
  EXPECT_EQ(info["state"], "failed");
  EXPECT_NE(info["reason"].get<std::string>().find("gave up after 3 crashes"), std::string::npos) << info;
  drain(log, 1500);
  EXPECT_EQ(log.of_kind("session_started").size(), 3u) << "started again after giving up";
}

TEST_F(StartE2E, ARealClaudeStuckAtStartFailsAfterTheStartTimeout) {
  start_with({"extra_args: [\"--settings\", \"" + stuck_settings() + "\"]", "start_timeout: 4",
              "restart_backoff: 0.2", "crash_limit: 2"});
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: never answered");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("session_failed", 60000)) << a->request("session.get", {{"session", id}});
  auto crashes = log.of_kind("session_crashed");
  ASSERT_EQ(crashes.size(), 1u);
  EXPECT_NE(crashes[0]["payload"]["reason"].get<std::string>().find("start timeout: claude did not answer initialize "
                                                                     "within 4 s"),
            std::string::npos)
      << crashes[0];
  json info = a->request("session.get", {{"session", id}});
  EXPECT_EQ(info["state"], "failed");
  EXPECT_NE(info["reason"].get<std::string>().find("gave up after 2 crashes"), std::string::npos) << info;
  EXPECT_NE(info["reason"].get<std::string>().find("within 4 s"), std::string::npos) << info;
  for (auto& s : log.of_kind("session_started")) EXPECT_EQ(wait_pid_gone(s["payload"]["pid"], 5000), 0);
  EXPECT_EQ(tagged_processes(), 0) << "the stuck hook outlived its claude";
  drain(log, 1000);
  EXPECT_EQ(log.of_kind("session_started").size(), 2u);
}

TEST_F(StartE2E, StopWhileARealClaudeIsStartingEndsTheSessionForGood) {
  start_with({"extra_args: [\"--settings\", \"" + stuck_settings() + "\"]"});
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: never answered");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "system"; }, 60000));  // its hook is running
  json before = a->request("session.get", {{"session", id}});
  EXPECT_EQ(before["state"], "starting");
  a->request("session.stop", {{"session", id}});
  ASSERT_TRUE(log.wait_kind("session_exited", 20000));
  EXPECT_EQ(log.of_kind("session_exited")[0]["payload"]["reason"], "stopped");
  EXPECT_EQ(wait_pid_gone(before["pid"], 5000), 0);
  drain(log, 2000);
  json info = a->request("session.get", {{"session", id}});
  EXPECT_EQ(info["state"], "exited") << info;
  EXPECT_EQ(info["pid"], 0);
  EXPECT_EQ(log.of_kind("session_started").size(), 1u) << "started again after the stop";
  EXPECT_TRUE(log.of_kind("session_crashed").empty());
  EXPECT_EQ(tagged_processes(), 0) << "the stuck hook outlived its claude";
}

TEST_F(StartE2E, StopDuringTheCrashBackoffOfARealClaudeEndsTheSessionForGood) {
  start_with({"extra_args: [\"--version\"]", "restart_backoff: 2"});
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: never answered");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("session_crashed", 60000));
  EXPECT_EQ(a->request("session.get", {{"session", id}})["state"], "restarting");
  a->request("session.stop", {{"session", id}});
  json info = a->request("session.get", {{"session", id}});
  EXPECT_EQ(info["state"], "exited");
  EXPECT_EQ(info["reason"], "stopped");
  drain(log, 3000);  // past the restart that was due
  EXPECT_EQ(log.of_kind("session_started").size(), 1u);
  EXPECT_EQ(a->request("session.get", {{"session", id}})["state"], "exited");
}
