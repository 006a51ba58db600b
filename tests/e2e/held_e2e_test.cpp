// Issue 13 with the real claude: sessions outlive ccmuxd. A kill -9 in the middle of a
// streaming turn and with an approval pending loses nothing and stores nothing twice; SIGTERM
// keeps sessions, --stop-sessions ends them; a holder killed under a running ccmuxd is a crash.
#include "e2e.h"

#include <csignal>
#include <map>
#include <thread>

namespace ccmux::test {
namespace {

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

bool wait_gone(pid_t pid, int ms) {
  for (int i = 0; i < ms / 50 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return !alive(pid);
}

// Every event of the session, 1..head, read back from the store through a fresh subscription.
std::vector<json> all_events(Client& c, const std::string& id, const std::string& until_kind, int ms = 60000) {
  EventLog log(c, id);
  log.wait_kind(until_kind, ms);
  return log.events();
}

void expect_contiguous(const std::vector<json>& evs) {
  for (size_t i = 0; i < evs.size(); ++i) ASSERT_EQ(evs[i]["seq"], i + 1) << "gap or duplicate at " << i;
}

// Every line claude wrote (the holder's spool is its tee) is stored exactly once as an event
// of its kind: compared by payload, counted.
void expect_each_claude_line_once(const std::vector<json>& evs, const std::vector<std::string>& kinds, size_t at_least) {
  std::map<std::string, int> seen;
  size_t n = 0;
  for (auto& e : evs)
    if (std::find(kinds.begin(), kinds.end(), e["kind"]) != kinds.end()) {
      ++n;
      EXPECT_EQ(++seen[e["payload"].dump()], 1) << "stored twice: " << e["payload"].dump().substr(0, 200);
    }
  EXPECT_GE(n, at_least);
}

}  // namespace

TEST_F(E2E, Kill9MidStreamLosesNoLineAndStoresNoneTwiceAndTheTurnGoesOn) {
  std::string id;
  std::vector<json> before;
  pid_t claude = 0;
  {
    auto a = daemon->connect();
    id = new_session(*a, "deltas: 20000");
    EventLog log(*a, id);
    ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "stream_event" && e["seq"] > 200; }));
    claude = a->request("session.get", {{"session", id}})["pid"];
    daemon->kill9();
    before = log.events();
  }
  ASSERT_TRUE(alive(claude)) << "claude died with ccmuxd";
  daemon->start();
  auto b = daemon->connect();
  auto after = all_events(*b, id, "result", 120000);
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back()["kind"] == "result" || !b->request("session.get", {{"session", id}}).empty(), true);
  expect_contiguous(after);
  ASSERT_GE(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(after[i]["payload"], before[i]["payload"]) << "seq " << i + 1;
  bool has_result = false;
  for (auto& e : after) has_result = has_result || e["kind"] == "result";
  EXPECT_TRUE(has_result) << "the turn did not finish after the restart";
  expect_each_claude_line_once(after, {"stream_event", "assistant", "result", "system"}, 20000);
  json info = b->request("session.get", {{"session", id}});
  EXPECT_EQ(info["pid"], claude) << "not the same claude: it was restarted instead of adopted";
}

TEST_F(E2E, Kill9WithAnApprovalPendingKeepsItAndItsAnswerRunsTheTool) {
  std::string id, approval;
  {
    auto a = daemon->connect();
    id = new_session(*a, bash("touch survived-kill9.txt"));
    EventLog log(*a, id);
    ASSERT_TRUE(log.wait_kind("approval_requested"));
    approval = log.of_kind("approval_requested")[0]["payload"]["id"];
    daemon->kill9();
  }
  daemon->start();
  auto b = daemon->connect(true);
  json pending = b->request("approvals.list");
  bool listed = false;
  for (auto& p : pending["approvals"]) listed = listed || p["id"] == approval;
  ASSERT_TRUE(listed) << pending.dump();
  EventLog log(*b, id);
  ASSERT_TRUE(log.wait_for([&](const json& e) { return e["kind"] == "approval_requested" && e["seq"] > 1 && log.of_kind("approval_requested").size() >= 2; }, 20000))
      << "approval_requested was not published again after the restart";
  json r = b->request("approval.answer", {{"id", approval}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_kind("result", 60000));
  EXPECT_TRUE(std::filesystem::exists(daemon->project() + "/survived-kill9.txt")) << "the answer did not reach claude";
  auto evs = log.events();
  expect_contiguous(evs);
  size_t resolved = 0;
  for (auto& e : evs) resolved += e["kind"] == "approval_resolved" && e["payload"]["id"] == approval;
  EXPECT_EQ(resolved, 1u) << "answered once";
  size_t requests = 0;
  for (auto& e : evs)
    requests += e["kind"] == "control_request" && e["payload"]["request"].value("subtype", "") == "can_use_tool";
  EXPECT_EQ(requests, 1u) << "claude's can_use_tool stored once";
}

TEST_F(E2E, SigtermKeepsHeldSessionsAndStopSessionsEndsThem) {
  std::string id;
  pid_t claude = 0;
  {
    auto a = daemon->connect();
    id = new_session(*a, "echo: kept");
    EventLog log(*a, id);
    ASSERT_TRUE(log.wait_kind("result"));
    claude = a->request("session.get", {{"session", id}})["pid"];
  }
  daemon->terminate();  // systemctl stop / restart
  EXPECT_TRUE(alive(claude)) << "SIGTERM ended a held claude";
  daemon->start();
  {
    auto b = daemon->connect();
    json info = b->request("session.get", {{"session", id}});
    EXPECT_EQ(info["pid"], claude);
    EXPECT_EQ(info["state"], "idle");
    b->request("session.send", {{"session", id}, {"prompt", "echo: after the restart"}});
    EventLog log(*b, id);
    ASSERT_TRUE(log.wait_for([](const json& e) {
      return e["kind"] == "result" && e["payload"].value("result", "").find("after the restart") != std::string::npos;
    }));
  }
  daemon->stop_sessions();
  EXPECT_TRUE(wait_gone(claude, 20000)) << "--stop-sessions left claude running";
  daemon->start();
  auto c = daemon->connect();
  EXPECT_EQ(c->request("session.get", {{"session", id}})["state"], "exited");
}

TEST_F(E2E, AHolderKilledUnderARunningDaemonIsACrashAndTheSessionRestarts) {
  auto a = daemon->connect();
  std::string id = new_session(*a, "echo: one");
  EventLog log(*a, id);
  ASSERT_TRUE(log.wait_kind("result"));
  json started = log.of_kind("session_started")[0]["payload"];
  pid_t claude = a->request("session.get", {{"session", id}})["pid"];
  // The holder is claude's parent.
  std::string stat = read_file("/proc/" + std::to_string(claude) + "/stat");
  pid_t holder = std::stoi(stat.substr(stat.rfind(')') + 4));
  ASSERT_GT(holder, 1);
  kill(holder, SIGKILL);
  ASSERT_TRUE(log.wait_kind("session_crashed", 20000));
  std::string reason = log.of_kind("session_crashed")[0]["payload"].value("reason", "");
  EXPECT_NE(reason.find("holder"), std::string::npos) << reason;
  EXPECT_TRUE(wait_gone(claude, 10000)) << "claude outlived its holder";
}

}  // namespace ccmux::test
