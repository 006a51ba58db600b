// Hostile policies and hostile tool input with the real claude: the daemon keeps serving,
// the approval reaches a human with the reason, and answering it runs the tool.
#include "e2e.h"

#include <chrono>
#include <filesystem>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {
// The Lua pattern matcher runs in C, out of the instruction budget's reach: ~forever.
const char* kHangOnBash =
    "function decide(r)\n"
    "  if r.tool == 'Bash' then (\"a\"):rep(3000):find((\"a*\"):rep(20)..\"b\") end\n"
    "  return 'allow', 'everything is fine'\n"
    "end\n";
}  // namespace

class HostilePolicyE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.policies = {policy_file(dir, "hang.lua", kHangOnBash), "builtin:default"};
    o.approval_keys = {"lua_timeout_ms: 500"};
    start(o);
  }
};

TEST_F(HostilePolicyE2E, AHangingPolicyIsStoppedTheDaemonKeepsServingAndAHumanDecides) {
  auto c = daemon->connect();
  auto watcher = daemon->connect(true);
  pid_t pid = daemon->pid();
  std::string id = new_session(*c, bash("touch decided-by-a-human.txt"));
  EventLog log(*c, id);
  // While the script hangs in the worker, the daemon answers at once.
  auto t0 = std::chrono::steady_clock::now();
  json st = watcher->request("status", json::object());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(400));
  EXPECT_EQ(st["pid"], pid);
  ASSERT_TRUE(log.wait_kind("approval_requested"));
  json req = log.of_kind("approval_requested")[0]["payload"];
  // The hanging script's "allow" never came; a later script cannot allow in its place.
  EXPECT_EQ(req["policy"]["decision"], "ask") << req.dump();
  EXPECT_NE(req["policy"]["error"].get<std::string>().find("ran longer than 500 ms"), std::string::npos) << req.dump();
  auto r = watcher->request("approval.answer", {{"id", req["id"]}, {"decision", "allow"}});
  EXPECT_EQ(r["status"], "resolved");
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_TRUE(fs::exists(daemon->project() + "/decided-by-a-human.txt"));
  EXPECT_EQ(daemon->pid(), pid);
}

// Claude validates built-in tools' input, but an MCP tool takes any object: a model can nest
// its input as deep as it likes (tests/fake_mcp/nested_mcp_server.py is such a tool).
class NestedMcpE2E : public E2E {
 protected:
  void SetUp() override {
    std::string cfg = dir.path + "/mcp.json";
    write_file(cfg, json{{"mcpServers",
                          {{"nest",
                            {{"command", "python3"},
                             {"args", {source_dir() + "/tests/fake_mcp/nested_mcp_server.py"}}}}}}}
                        .dump());
    DaemonOptions o;
    o.claude_keys = {"extra_args: [--mcp-config, " + cfg + "]"};
    start(o);
  }
  static json nested(int levels) {
    json deep = "leaf";
    for (int i = 0; i < levels; ++i) {
      json outer = json::object();
      outer["a"] = std::move(deep);
      deep = std::move(outer);
    }
    return deep;
  }
};

TEST_F(NestedMcpE2E, ToolInputNestedPastThePolicyLimitReachesAHumanWithTheReasonAndRuns) {
  auto c = daemon->connect();
  pid_t pid = daemon->pid();
  std::string id = new_session(*c, "tool: mcp__nest__echo " + json{{"n", nested(80)}}.dump());
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_for([](const json& ev) { return ev["kind"] == "approval_requested" || ev["kind"] == "result"; }));
  auto asked = log.of_kind("approval_requested");
  ASSERT_EQ(asked.size(), 1u) << "claude must have asked for the MCP tool";
  json req = asked[0]["payload"];
  EXPECT_EQ(req["tool"], "mcp__nest__echo");
  EXPECT_EQ(req["policy"]["by"], "ccmux") << req.dump().substr(0, 2000);
  EXPECT_NE(req["policy"]["reason"].get<std::string>().find("nested deeper than 64"), std::string::npos);
  c->request("approval.answer", {{"id", req["id"]}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_NE(log.of_kind("result")[0]["payload"]["result"].get<std::string>().find("depth 81"), std::string::npos)
      << log.of_kind("result")[0]["payload"].dump();
  EXPECT_EQ(daemon->pid(), pid);
}

TEST_F(NestedMcpE2E, ToolInputNestedSixtyLevelsGoesThroughTheDefaultPolicy) {
  // Before issue 10 this overflowed the Lua C stack in the default policy (heap corruption).
  auto c = daemon->connect();
  std::string id = new_session(*c, "tool: mcp__nest__echo " + json{{"n", nested(60)}}.dump());
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("approval_requested"));
  json req = log.of_kind("approval_requested")[0]["payload"];
  EXPECT_EQ(req["policy"]["decision"], "ask");
  EXPECT_EQ(req["policy"]["by"], "policy:builtin:default") << req.dump();
  EXPECT_FALSE(req["policy"].contains("error")) << req.dump();
  c->request("approval.answer", {{"id", req["id"]}, {"decision", "deny"}});
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_EQ(daemon->connect()->request("ping", json::object())["pong"], true);
}
