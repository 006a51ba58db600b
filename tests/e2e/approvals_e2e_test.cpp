#include "e2e.h"

#include <csignal>
#include <filesystem>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {
json approval_resolved(const EventLog& log) {
  auto r = log.of_kind("approval_resolved");
  return r.empty() ? json() : r.back()["payload"];
}
}  // namespace

class PolicyE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.policies = {policy_file(dir, "echo.lua",
                              "function decide(r)\n"
                              "  if r.tool == 'Bash' and ccmux.glob(r.input.command, 'echo *') then return 'allow', 'echo is fine' end\n"
                              "end\n"),
                  "builtin:default"};
    start(o);
  }
};

TEST_F(PolicyE2E, ToolAllowedByPolicyRunsAndItsEffectIsOnDisk) {
  auto c = daemon->connect();
  std::string id = new_session(*c, bash("echo policy-was-here > touched.txt"));
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  auto r = approval_resolved(log);
  EXPECT_EQ(r["decision"], "allow");
  EXPECT_EQ(r["decided_by"], "policy:" + dir.path + "/echo.lua");
  EXPECT_EQ(read_file(daemon->project() + "/touched.txt"), "policy-was-here\n");
  EXPECT_TRUE(log.of_kind("approval_requested").empty()) << "decided by policy: nobody is asked";
}

TEST_F(PolicyE2E, ToolDeniedByPolicyDoesNotRun) {
  fs::create_directories(daemon->project() + "/victim");
  write_file(daemon->project() + "/victim/keep.txt", "precious");
  auto c = daemon->connect();
  std::string id = new_session(*c, bash("rm -rf victim"));
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  auto r = approval_resolved(log);
  EXPECT_EQ(r["decision"], "deny");
  EXPECT_EQ(r["decided_by"], "policy:builtin:default");
  EXPECT_TRUE(fs::exists(daemon->project() + "/victim/keep.txt"));
  // claude saw the denial as the tool result and went on.
  EXPECT_NE(log.of_kind("result")[0]["payload"]["result"].get<std::string>().find("recursive delete"), std::string::npos);
}

TEST_F(E2E, AskedToolIsAnsweredThroughTheLocalApiBySecondClient) {
  auto a = daemon->connect();
  std::string id = new_session(*a, bash("touch approved-by-b.txt"));
  EventLog log(*a, id);
  auto b = daemon->connect(true);
  json pending;
  for (int i = 0; i < 100 && pending.is_null(); ++i) {
    auto m = b->next(30000);
    ASSERT_TRUE(m);
    if ((*m)["type"] == "approvals" && !(*m)["pending"].empty()) pending = (*m)["pending"][0];
    if ((*m)["type"] == "approval_requested") pending = (*m)["approval"];
  }
  EXPECT_EQ(pending["tool"], "Bash");
  EXPECT_EQ(pending["input"]["command"], "touch approved-by-b.txt");
  EXPECT_EQ(a->request("session.get", {{"session", id}})["state"], "waiting_approval");
  EXPECT_FALSE(fs::exists(daemon->project() + "/approved-by-b.txt"));
  auto res = b->request("approval.answer", {{"id", pending["id"]}, {"decision", "allow"}, {"by", "test"}});
  EXPECT_EQ(res["status"], "resolved");
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_TRUE(fs::exists(daemon->project() + "/approved-by-b.txt"));
  EXPECT_EQ(approval_resolved(log)["decision"], "allow");
  EXPECT_NE(approval_resolved(log)["decided_by"].get<std::string>().find(":test"), std::string::npos);
  // Late answers do not disturb the first one.
  auto late = a->request("approval.answer", {{"id", pending["id"]}, {"decision", "deny"}});
  EXPECT_EQ(late["status"], "already_resolved");
  auto status = a->request("status");
  EXPECT_EQ(status["approvals"]["allow"], 1);
  EXPECT_GT(status["events"].get<int64_t>(), 10);
  auto audit = a->request("approvals.list", {{"all", true}})["approvals"];
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "allow");
  EXPECT_GE(audit[0]["latency_ms"].get<int64_t>(), 0);
}

TEST_F(E2E, HumanDenialStopsTheTool) {
  auto a = daemon->connect();
  std::string id = new_session(*a, bash("touch should-not-exist.txt"));
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("approval_requested"));
  std::string aid = log.of_kind("approval_requested")[0]["payload"]["id"];
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + daemon->socket(), "deny", aid, "--reason", "not today"}, &out), 0) << out;
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_FALSE(fs::exists(daemon->project() + "/should-not-exist.txt"));
  EXPECT_NE(log.of_kind("result")[0]["payload"]["result"].get<std::string>().find("not today"), std::string::npos);
}

TEST_F(E2E, AskUserQuestionIsItsOwnKindAndAnsweredThroughTheApi) {
  auto a = daemon->connect();
  json input = {{"questions",
                 {{{"question", "Which color?"},
                   {"header", "Color"},
                   {"multiSelect", false},
                   {"options", {{{"label", "red"}, {"description", "warm"}}, {{"label", "blue"}, {"description", "cool"}}}}}}}};
  std::string id = new_session(*a, "tool: AskUserQuestion " + input.dump());
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("approval_requested"));
  auto req = log.of_kind("approval_requested")[0]["payload"];
  EXPECT_EQ(req["kind"], "question");
  EXPECT_EQ(req["questions"][0]["question"], "Which color?");
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + daemon->socket(), "answer", req["id"], "blue"}, &out), 0) << out;
  ASSERT_TRUE(log.wait_kind("result"));
  std::string tool_result;
  for (auto& u : log.of_kind("user"))
    for (auto& b : u["payload"]["message"]["content"])
      if (b.value("type", "") == "tool_result") tool_result += b["content"].is_string() ? b["content"].get<std::string>() : b["content"].dump();
  EXPECT_NE(tool_result.find("blue"), std::string::npos) << tool_result;
}

class ShortTimeoutE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.approval_timeout_s = 1;
    start(o);
  }
};

TEST_F(ShortTimeoutE2E, UnansweredApprovalIsDeniedAfterTheTimeout) {
  auto a = daemon->connect();
  std::string id = new_session(*a, bash("touch too-late.txt"));
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("result"));
  auto r = approval_resolved(log);
  EXPECT_EQ(r["decision"], "deny");
  EXPECT_EQ(r["decided_by"], "timeout");
  EXPECT_FALSE(fs::exists(daemon->project() + "/too-late.txt"));
  EXPECT_NE(log.of_kind("result")[0]["payload"]["result"].get<std::string>().find("No answer within"), std::string::npos);
}

TEST_F(E2E, PermissionModeChangeReachesClaude) {
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: first");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("result"));
  auto r = a->request("session.mode", {{"session", id}, {"mode", "plan"}});
  EXPECT_EQ(r["mode"], "plan");
  ASSERT_TRUE(log.wait_kind("mode_changed"));
  EXPECT_EQ(a->request("session.get", {{"session", id}})["permission_mode"], "plan");
  a->request("session.send", {{"session", id}, {"prompt", "echo: second"}});
  ASSERT_TRUE(log.wait_for([&](const json& e) {
    return e["kind"] == "system" && e["payload"].value("permissionMode", "") == "plan";
  }));
}

class ReloadE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    policy = policy_file(dir, "p.lua", "function decide(r) return 'deny', 'v1 says no' end\n");
    o.policies = {policy};
    start(o);
  }
  json decide_once(Client& c, const std::string& file) {
    std::string id = new_session(c, bash("touch " + file));
    EventLog log(c, id);
    EXPECT_TRUE(log.wait_kind("approval_resolved"));
    EXPECT_TRUE(log.wait_kind("result"));
    return approval_resolved(log);
  }
  std::string policy;
};

TEST_F(ReloadE2E, SighupReloadsPoliciesAndABrokenScriptKeepsThePreviousVersion) {
  auto c = daemon->connect();
  EXPECT_EQ(decide_once(*c, "a")["reason"], "v1 says no");
  write_file(policy, "function decide(r)\n  return 'allow'\nedn\n");
  kill(daemon->pid(), SIGHUP);
  for (int i = 0; i < 100 && daemon->log().find("keeping the previous version") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(daemon->log().find(policy + ":3:"), std::string::npos) << daemon->log();
  EXPECT_EQ(decide_once(*c, "b")["reason"], "v1 says no");
  write_file(policy, "function decide(r) return 'allow', 'v2 says yes' end\n");
  kill(daemon->pid(), SIGHUP);
  for (int i = 0; i < 100 && daemon->log().find("policies reloaded: 1 active, 0 errors") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  json r = decide_once(*c, "c");
  EXPECT_EQ(r["decision"], "allow");
  EXPECT_EQ(r["reason"], "v2 says yes");
  EXPECT_TRUE(fs::exists(daemon->project() + "/c"));
}

TEST_F(E2E, CliRunExitsNonZeroWhenADenyStopsTheTurn) {
  std::string out;
  int rc = -1;
  std::thread run([&] {
    rc = run_command({ccmux_bin(), "--socket=" + daemon->socket(), "run", "--cwd", daemon->project(),
                      bash("touch never-made.txt")},
                     &out);
  });
  auto w = daemon->connect(true);
  std::string aid;
  for (int i = 0; i < 100 && aid.empty(); ++i) {
    auto m = w->next(30000);
    ASSERT_TRUE(m);
    if ((*m)["type"] == "approval_requested") aid = (*m)["approval"]["id"];
    if ((*m)["type"] == "approvals" && !(*m)["pending"].empty()) aid = (*m)["pending"][0]["id"];
  }
  std::string cli;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + daemon->socket(), "deny", aid, "--stop"}, &cli), 0) << cli;
  run.join();
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("turn ended in error"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(daemon->project() + "/never-made.txt"));
}

TEST_F(E2E, CliRunAnswersAnApprovalTypedAtItsTerminal) {
  if (!fs::exists("/usr/bin/script")) GTEST_SKIP() << "util-linux script is needed for a terminal";
  // script(1) gives ccmux a pseudo-terminal; the "a" waits in it until ccmux asks.
  std::string cmd = ccmux_bin() + " --socket=" + daemon->socket() + " run --cwd " + daemon->project() + " '" +
                    bash("touch typed-yes.txt") + "'";
  std::string out;
  int rc = run_command_with_input({"/usr/bin/script", "-qfec", cmd, "/dev/null"}, "a\n", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("[a]llow"), std::string::npos) << out;
  EXPECT_NE(out.find(":terminal"), std::string::npos) << out;  // decided_by names the terminal
  EXPECT_TRUE(fs::exists(daemon->project() + "/typed-yes.txt"));
}

TEST_F(E2E, CliAttachAtATerminalAnswersOnlyApprovalsStillPending) {
  if (!fs::exists("/usr/bin/script")) GTEST_SKIP() << "util-linux script is needed for a terminal";
  auto a = daemon->connect();
  // An approval answered already (it will be replayed), then one left pending.
  std::string id = new_session(*a, bash("touch first.txt"));
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("approval_requested"));
  a->request("approval.answer", {{"id", log.of_kind("approval_requested")[0]["payload"]["id"]}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_kind("result"));
  a->request("session.send", {{"session", id}, {"prompt", bash("touch second.txt")}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("approval_requested").size() == 2; }));
  // attach replays both requests but asks only for the second; "d" denies it. Then stop the
  // session so attach ends.
  std::thread stopper([&] {
    auto c = daemon->connect();
    for (int i = 0; i < 200 && !c->request("approvals.list")["approvals"].empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c->request("session.stop", {{"session", id}});
  });
  std::string cmd = ccmux_bin() + " --socket=" + daemon->socket() + " attach " + id;
  std::string out;
  int rc = run_command_with_input({"/usr/bin/script", "-qfec", cmd, "/dev/null"}, "d\n", &out);
  stopper.join();
  EXPECT_EQ(rc, 0) << out;
  size_t prompts = 0;
  for (size_t pos = out.find("[a]llow"); pos != std::string::npos; pos = out.find("[a]llow", pos + 1)) ++prompts;
  EXPECT_EQ(prompts, 1u) << out;
  auto audit = a->request("approvals.list", {{"all", true}})["approvals"];
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0]["decision"], "deny");  // newest first
  EXPECT_NE(audit[0]["decided_by"].get<std::string>().find(":terminal"), std::string::npos);
  EXPECT_EQ(audit[1]["decision"], "allow");
}
