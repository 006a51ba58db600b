// Issue 10 item 3: claude's stdout with fields of the wrong JSON type (scripted fake claude).
// Each such line is kept, a parse_error event says what was wrong, every request is still
// answered, and the daemon and the session go on.
#include "harness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <set>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
std::string emit(const std::vector<std::string>& lines) { return "emit:" + json(lines).dump(); }

std::vector<json> results_answering(const EventLog& log) {
  std::vector<json> out;
  for (auto& r : log.of_kind("result"))
    if (r["payload"].contains("answered")) out.push_back(r["payload"]);
  return out;
}

json warm_processes(Client& c) { return c.request("status")["economy"]["warm_pool"]["processes"]; }
}  // namespace

TEST(ClaudeLines, ControlMessagesWithWrongTypesAreKeptReportedAndAnswered) {
  FakeDaemon f;
  auto c = f.d->connect();
  const std::vector<std::string> lines = {
      // A good request first: it must stay pending whatever follows.
      R"({"type":"control_request","request_id":"ok-1","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"echo asked"}}})",
      R"({"type":"control_request","request_id":5,"request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"}}})",
      R"({"type":"control_request","request_id":"r-str","request":"x"})",
      R"({"type":"control_request","request_id":"r-tool","request":{"subtype":"can_use_tool","tool_name":7,"input":{}}})",
      R"({"type":"control_request","request_id":"r-input","request":{"subtype":"can_use_tool","tool_name":"Bash","input":"ls"}})",
      R"({"type":"control_request","request_id":"r-sugg","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{},"permission_suggestions":"x"}})",
      R"({"type":"control_cancel_request","request_id":[1]})",
      R"({"type":"control_cancel_request"})",  // used to cancel every pending approval of the session
      R"({"type":"control_response","response":"x"})",
      R"({"type":"control_response","response":{"request_id":9,"subtype":5}})",
      R"({"type":7})",
      R"([1,2,3])",
  };
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", emit(lines)}})["id"];
  EventLog log(*c, id);
  const std::set<json> bad_ids = {5, "r-str", "r-tool", "r-input", "r-sugg"};
  ASSERT_TRUE(log.wait_for([&](const json&) { return results_answering(log).size() >= bad_ids.size(); }, 20000))
      << "claude was not answered: " << f.d->log();

  // Every request we could not read was answered: can_use_tool with a deny saying why.
  std::set<json> answered;
  for (auto& r : results_answering(log)) {
    answered.insert(r["answered"]);
    if (r["answered"] == "r-str") {
      EXPECT_NE(r["result"].get<std::string>().find("could not read this control request"), std::string::npos) << r;
    } else {
      EXPECT_EQ(r["result"], "permission: deny") << r;
      EXPECT_NE(r["message"].get<std::string>().find("could not read this permission request"), std::string::npos) << r;
    }
  }
  EXPECT_EQ(answered, bad_ids);

  // Each line is kept: stored as the event it is (byte for byte), or as parse_error with its bytes.
  std::map<uint64_t, json> by_seq;
  for (auto& e : log.events()) by_seq[e["seq"]] = e;
  auto errs = log.of_kind("parse_error");
  std::vector<std::string> problems;
  for (auto& e : errs) {
    std::string err = e["payload"]["error"];
    problems.push_back(err);
    if (e["payload"].contains("seq")) {
      json line = by_seq[e["payload"]["seq"].get<uint64_t>()];
      EXPECT_NE(err.find(line["kind"].get<std::string>()), std::string::npos) << err << " for " << line;
      EXPECT_NE(std::find_if(lines.begin(), lines.end(), [&](auto& l) { return json::parse(l) == line["payload"]; }),
                lines.end())
          << line;
    } else {
      EXPECT_TRUE(e["payload"]["raw"] == "[1,2,3]" || e["payload"]["raw"] == R"({"type":7})") << e;
    }
  }
  auto has = [&](const std::string& what) {
    for (auto& p : problems)
      if (p.find(what) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("control_request: can_use_tool: 'request_id' must be a non-empty string (denied)"));
  EXPECT_TRUE(has("control_request: 'request' must be an object"));
  EXPECT_TRUE(has("can_use_tool: 'tool_name' must be a non-empty string (denied)"));
  EXPECT_TRUE(has("can_use_tool: 'input' must be an object (denied)"));
  EXPECT_TRUE(has("can_use_tool: 'permission_suggestions' must be an array (denied)"));
  EXPECT_TRUE(has("control_cancel_request: 'request_id' must be a non-empty string"));
  EXPECT_TRUE(has("control_response: 'response' must be an object"));
  EXPECT_TRUE(has("control_response: 'request_id' must be a string"));
  EXPECT_TRUE(has("line has no 'type' field"));
  EXPECT_TRUE(has("line is not a JSON object"));
  EXPECT_EQ(errs.size(), 11u);

  // The good request is still pending (no bad cancel reached it); answering it goes to claude.
  // Its policy runs in the policy worker, so under load it may become an approval after the
  // bad requests were answered: wait for it rather than race it.
  ASSERT_TRUE(log.wait_kind("approval_requested")) << f.d->log();
  json pending = c->request("approvals.list")["approvals"];
  ASSERT_EQ(pending.size(), 1u) << pending;
  EXPECT_EQ(pending[0]["state"], "pending");
  c->request("approval.answer", {{"id", pending[0]["id"]}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_for([&](const json& e) { return e["kind"] == "result" && e["payload"]["answered"] == "ok-1"; }, 20000));
  EXPECT_EQ(c->request("approvals.list", {{"all", true}})["approvals"].size(), 1u) << "a bad request became an approval";

  // The session and the daemon go on.
  c->request("session.send", {{"session", id}, {"prompt", "still here"}});
  ASSERT_TRUE(log.wait_for([&](const json& e) { return e["kind"] == "result" && e["payload"]["result"] == "still here"; }, 20000));
  EXPECT_EQ(c->request("ping")["pong"], true);
  EXPECT_EQ(kill(f.d->pid(), 0), 0);
}

TEST(ClaudeLines, AMalformedAnswerToOurOwnControlRequestFailsThatRequestOnly) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "badcontrol"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 20000));
  // claude answers the interrupt with {"subtype":5,"error":[1]}.
  try {
    c->request("session.interrupt", {{"session", id}});
    ADD_FAILURE() << "a malformed answer was taken for success";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "claude_error");
    EXPECT_NE(std::string(e.what()).find("malformed"), std::string::npos) << e.what();
  }
  ASSERT_TRUE(log.wait_kind("parse_error", 5000));
  EXPECT_EQ(log.of_kind("parse_error")[0]["payload"]["error"], "control_response: 'subtype' must be a string");
  c->request("session.send", {{"session", id}, {"prompt", "again"}});
  ASSERT_TRUE(log.wait_for([&](const json& e) { return e["kind"] == "result" && e["payload"]["result"] == "again"; }, 20000));
  EXPECT_EQ(c->request("ping")["pong"], true);
}

TEST(ClaudeLines, AWarmProcessSayingOddThingsFirstIsServedAndItsLinesKept) {
  DaemonOptions o;
  o.warm_pool = 1;
  // Before any input, every fake claude here says these: the warm pool reads them first.
  std::string early = json(std::vector<std::string>{"[1,2,3]", R"({"type":"control_response","response":"x"})",
                                                    R"({"type":"control_response","response":{"request_id":5}})"})
                          .dump();
  std::string quoted = json(early).dump();  // the harness writes it inside YAML double quotes
  o.claude_env = {{"FAKE_CLAUDE_EARLY", quoted.substr(1, quoted.size() - 2)}};
  FakeDaemon f(o);
  auto c = f.d->connect();
  std::string first = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "first"}})["id"];
  pid_t warm = 0;
  for (int i = 0; i < 300 && !warm; ++i) {
    json procs = warm_processes(*c);  // throws when the daemon died
    if (!procs.empty() && procs[0]["ready"].get<bool>()) warm = procs[0]["pid"];
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(warm, 0) << "no warm claude became ready: " << f.d->log();
  std::string second = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "second"}})["id"];
  EventLog log(*c, second);
  ASSERT_TRUE(log.wait_kind("result", 20000)) << f.d->log();
  EXPECT_EQ(log.of_kind("session_started")[0]["payload"]["pid"], warm);
  auto errs = log.of_kind("parse_error");
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_EQ(errs[0]["payload"]["raw"], "[1,2,3]");
  EXPECT_EQ(errs[1]["payload"]["error"], "control_response: 'response' must be an object");
  EXPECT_EQ(errs[2]["payload"]["error"], "control_response: 'request_id' must be a string");
  EXPECT_EQ(log.of_kind("result")[0]["payload"]["result"], "second");
  EventLog first_log(*c, first);
  ASSERT_TRUE(first_log.wait_kind("result", 20000));
  EXPECT_EQ(c->request("ping")["pong"], true);
}
