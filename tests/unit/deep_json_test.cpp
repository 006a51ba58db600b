// JSON nested ~100k deep (200 KB of "[[[[…") at the daemon's boundaries. nlohmann parses
// and destroys it without recursion, but copying or dumping it recurses once per level and
// overflows the stack: every outside parse is bounded (json_bounds.h), and too deep is
// handled as malformed JSON is.
#include "harness.h"
#include "raw_socket.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
constexpr size_t kDeep = 100000;

std::string deep_array(size_t n = kDeep) { return std::string(n, '[') + std::string(n, ']'); }

std::string emit(const std::vector<std::string>& lines) { return "emit:" + json(lines).dump(); }
}  // namespace

TEST(DeepJson, ADeepMessageOnTheLocalSocketIsABadMessageAndTheDaemonGoesOn) {
  FakeDaemon f;
  Raw r(f.d->socket());
  r.send_all(R"({"type":"hello","protocol":1})" "\n");
  ASSERT_EQ(r.line()["type"], "hello");
  const std::string deep = deep_array();
  // The bomb alone, as a request's id (echoed back: copied and dumped), and in a request's params.
  for (const std::string& msg :
       {deep, R"({"type":"request","id":)" + deep + R"(,"method":"ping"})",
        R"({"type":"request","id":3,"method":"session.new","params":{"cwd":"/","prompt":)" + deep + "}}",
        R"({"type":"request","id":4,"method":"no.such","params":{"x":)" + deep_array(300) + "}}"}) {
    r.send_all(msg + "\n");
    json e = r.line();
    EXPECT_EQ(e["type"], "error") << e.dump().substr(0, 300);
    EXPECT_EQ(e["code"], "bad_message") << e.dump().substr(0, 300);
    EXPECT_NE(e.value("message", "").find("nested deeper than 256"), std::string::npos) << e.dump().substr(0, 300);
    r.send_all(R"({"type":"request","id":"p","method":"ping"})" "\n");
    json pong = r.line();
    ASSERT_EQ(pong["result"]["pong"], true) << "after " << msg.substr(0, 60) << ": " << pong.dump().substr(0, 300);
  }
  // As deep as allowed is still a message.
  r.send_all(R"({"type":"request","id":5,"method":"ping","params":{"x":)" + deep_array(250) + "}}\n");
  EXPECT_EQ(r.line()["result"]["pong"], true);
  EXPECT_EQ(f.d->connect()->request("ping")["pong"], true);
}

TEST(DeepJson, ADeepLineFromClaudeIsAParseErrorKeptAndTheSessionGoesOn) {
  FakeDaemon f;
  auto c = f.d->connect();
  // Deeper than simdjson's 1024 (a whole-line parse error), and a control request just
  // inside it whose input is deeper than the protocol allows: both kept, the request answered.
  std::string ctl = R"({"type":"control_request","request_id":"deep-1","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls","x":)" +
                    deep_array(1000) + "}}}";
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", emit({deep_array(), ctl})}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "result" && e["payload"].contains("answered"); }, 20000))
      << f.d->log().substr(0, 4000);
  auto errs = log.of_kind("parse_error");
  ASSERT_GE(errs.size(), 1u);
  EXPECT_EQ(errs[0]["payload"]["raw"].get<std::string>().size(), 2 * kDeep);
  auto answered = log.of_kind("result");
  bool denied = false;
  for (auto& r : answered)
    if (r["payload"].value("answered", "") == "deep-1") denied = r["payload"]["result"] == "permission: deny";
  EXPECT_TRUE(denied) << "the deep can_use_tool must be answered (denied): " << answered.back().dump().substr(0, 500);
  c->request("session.send", {{"session", id}, {"prompt", "after"}});
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "result" && e["payload"]["result"] == "after"; }, 20000));
  EXPECT_EQ(c->request("ping")["pong"], true);
}

TEST(DeepJson, ADeepLineFromAWarmProcessIsKeptAndTheDaemonGoesOn) {
  DaemonOptions o;
  o.warm_pool = 1;
  // A warm claude's first words, read by the warm pool before any session owns it.
  o.claude_env = {{"FAKE_CLAUDE_EARLY_DEEP", std::to_string(10 * kDeep)}};  // 2 MB: a copy of 100k levels fits 8 MB of stack
  FakeDaemon f(o);
  auto c = f.d->connect();
  std::string first = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "first"}})["id"];
  pid_t warm = 0;
  for (int i = 0; i < 300 && !warm; ++i) {
    json procs = c->request("status")["economy"]["warm_pool"]["processes"];  // throws when the daemon died
    if (!procs.empty() && procs[0]["ready"].get<bool>()) warm = procs[0]["pid"];
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(warm, 0) << "no warm claude became ready: " << f.d->log().substr(0, 4000);
  std::string second = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "second"}})["id"];
  EventLog log(*c, second);
  ASSERT_TRUE(log.wait_kind("result", 20000)) << f.d->log().substr(0, 4000);
  ASSERT_GE(log.of_kind("parse_error").size(), 1u);
  EXPECT_EQ(c->request("ping")["pong"], true);
}

TEST(DeepJson, ADeepHookInputIsNoDecisionNotACrash) {
  FakeDaemon f;
  std::string input = R"({"session_id":"0b8f5a3e-1111-4222-8333-944445555666","hook_event_name":"PreToolUse","cwd":")" +
                      f.d->project() + R"(","tool_name":"Bash","tool_input":{"command":"ls","x":)" + deep_array() + "}}";
  std::string out;
  int rc = run_command_with_input({ccmux_bin(), "hook"}, input, &out, {"CCMUX_DAEMON_SOCKET=" + f.d->socket()});
  EXPECT_EQ(rc, 0) << out.substr(0, 2000);  // 139 (SIGSEGV) before
  EXPECT_NE(out.find("nested deeper than"), std::string::npos) << out.substr(0, 2000);
  EXPECT_EQ(f.d->connect()->request("ping")["pong"], true);
}
