// The local API over a real Unix socket, with the scripted fake claude (fast).
#include "harness.h"
#include "raw_socket.h"

#include <ccmux/plugin_abi.h>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace ccmux;
using namespace ccmux::test;

namespace {
// Reads events of one subscription until `head`, checking they come as 1, 2, 3, ...
void expect_events_in_order(Client& c, uint64_t head, const char* who) {
  uint64_t expect = 1;
  while (expect <= head) {
    auto m = c.next(10000);
    ASSERT_TRUE(m) << who << " never got seq " << expect;
    if ((*m)["type"] != "event") continue;
    ASSERT_EQ((*m)["seq"].get<uint64_t>(), expect);
    ++expect;
  }
}
}  // namespace

TEST(Protocol, SocketIsOwnerOnly) {
  FakeDaemon f;
  struct stat st {};
  ASSERT_EQ(stat(f.d->socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(std::filesystem::path(f.d->socket()).parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST(Protocol, HelloRequiredAndVersionMismatchSaysWhichSideToUpgrade) {
  FakeDaemon f;
  Raw r(f.d->socket());
  r.send_all(R"({"type":"request","id":1,"method":"status"})" "\n");
  EXPECT_EQ(r.line()["code"], "hello_required");
  r.send_all(R"({"type":"hello","protocol":2})" "\n");
  json e = r.line();
  EXPECT_EQ(e["code"], "protocol_mismatch");
  EXPECT_NE(e["message"].get<std::string>().find("upgrade ccmuxd"), std::string::npos);
  r.send_all(R"({"type":"hello","protocol":0})" "\n");
  EXPECT_NE(r.line()["message"].get<std::string>().find("upgrade the client"), std::string::npos);
  r.send_all(R"({"type":"hello","protocol":1})" "\n");
  EXPECT_EQ(r.line()["type"], "hello");
}

TEST(Protocol, MalformedMessagesGetErrorsAndTheConnectionGoesOn) {
  FakeDaemon f;
  Raw r(f.d->socket());
  r.send_all(R"({"type":"hello","protocol":1})" "\n");
  r.line();
  r.send_all("this is not json\n");
  EXPECT_EQ(r.line()["code"], "bad_message");
  r.send_all(R"({"type":"request","id":7,"method":"no.such"})" "\n");
  json e = r.line();
  EXPECT_EQ(e["id"], 7);
  EXPECT_EQ(e["error"]["code"], "unknown_method");
  r.send_all(R"({"type":"request","id":8,"method":"session.send","params":{"session":"s-none","prompt":"x"}})" "\n");
  EXPECT_EQ(r.line()["error"]["code"], "not_found");
  r.send_all(R"({"type":"request","id":9,"method":"ping"})" "\n");
  EXPECT_EQ(r.line()["result"]["pong"], true);
}

TEST(Protocol, OversizedMessageIsRefusedAndDaemonStaysUp) {
  FakeDaemon f;
  {
    Raw r(f.d->socket());
    r.send_all(R"({"type":"hello","protocol":1})" "\n");
    r.line();
    std::string big(65u << 20, 'x');  // no newline: one message over the limit
    r.send_all(big);
    json e = r.line();
    EXPECT_EQ(e["code"], "message_too_large");
  }
  auto c = f.d->connect();
  EXPECT_EQ(c->request("ping")["pong"], true);
}

TEST(Protocol, CwdOutsideProjectRootsIsRefusedIncludingDotDotAndSymlinks) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::filesystem::create_directory_symlink("/etc", f.dir.path + "/proj/escape");
  for (const std::string& cwd : std::vector<std::string>{"/etc", f.dir.path + "/proj/../..", f.dir.path + "/proj/escape"}) {
    try {
      c->request("session.new", {{"cwd", cwd}});
      ADD_FAILURE() << cwd << " was accepted";
    } catch (const RequestFailed& e) {
      EXPECT_EQ(e.code, "cwd_not_allowed") << cwd;
    }
  }
  EXPECT_EQ(c->request("session.new", {{"cwd", f.d->project()}})["state"], "starting");
}

TEST(Protocol, MalformedLineFromClaudeIsKeptAsParseErrorAndSessionGoesOn) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "garbage then fine"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 20000)) << f.d->log();
  auto errs = log.of_kind("parse_error");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0]["payload"]["raw"], "this is not json {");
  EXPECT_EQ(c->request("session.get", {{"session", id}})["state"], "idle");
}

TEST(Protocol, ClaudeLinesReachClientsByteForByte) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "verbatim"}})["id"];
  c->request("subscribe", {{"session", id}, {"from_seq", 1}});
  const std::string expected = R"({"z": 1,  "type":"system", "subtype":"custom", "a":"\u00e9\n", "n": 1.50})";
  for (int i = 0; i < 200; ++i) {
    auto raw = c->next_raw(10000);
    ASSERT_TRUE(raw);
    if (raw->find("\"subtype\":\"custom\"") == std::string::npos) continue;
    std::string tail = R"("kind":"system","payload":)" + expected + "}";
    ASSERT_GE(raw->size(), tail.size());
    EXPECT_EQ(raw->substr(raw->size() - tail.size()), tail);
    return;
  }
  FAIL() << "custom line not seen";
}

TEST(Protocol, PromptsSentDuringATurnAreQueuedAndDeliveredInOrder) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "one"}})["id"];
  c->request("session.send", {{"session", id}, {"prompt", "two"}});
  c->request("session.send", {{"session", id}, {"prompt", "three"}});
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 3; }, 20000));
  std::vector<std::string> results;
  for (auto& r : log.of_kind("result")) results.push_back(r["payload"]["result"]);
  EXPECT_EQ(results, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(log.of_kind("prompt_queued").size(), 3u);
}

// Crashes, hangs and restarts: tests/unit/economy_test.cpp.

TEST(Protocol, WatchingClientGetsPendingApprovalsOnConnect) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "ask me"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("approval_requested", 20000));
  auto w = f.d->connect(true);
  auto snap = w->next(5000);
  ASSERT_TRUE(snap);
  EXPECT_EQ((*snap)["type"], "approvals");
  ASSERT_EQ((*snap)["pending"].size(), 1u);
  std::string aid = (*snap)["pending"][0]["id"];
  auto r = w->request("approval.answer", {{"id", aid}, {"decision", "allow"}});
  EXPECT_EQ(r["status"], "resolved");
  ASSERT_TRUE(log.wait_kind("result", 20000));
  EXPECT_EQ(log.of_kind("result")[0]["payload"]["result"], "permission: allow");
  auto again = c->request("approval.answer", {{"id", aid}, {"decision", "deny"}});
  EXPECT_EQ(again["status"], "already_resolved");
}

TEST(Protocol, SecondDaemonOnTheSameStoreIsRefusedAndTouchesNothing) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "one"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 20000));
  std::string out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--config", f.d->config_path()}, &out), 1);
  EXPECT_NE(out.find("another ccmuxd (pid " + std::to_string(f.d->pid()) + ") is using"), std::string::npos) << out;
  // The first daemon's session is untouched (no "exited by restart" written by the second one).
  EXPECT_EQ(c->request("session.get", {{"session", id}})["state"], "idle");
  EXPECT_EQ(c->request("ping")["pong"], true);
}

namespace {
std::string test_plugin(const std::string& name) { return std::string(CCMUX_TEST_PLUGIN_DIR) + "/lib" + name + ".so"; }
}  // namespace

TEST(Protocol, TokensAreManagedOverTheLocalSocketAndPluginsCanCheckThem) {
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: auth_probe\n    required: true\n    path: " + test_plugin("auth_probe") + "\n";
  FakeDaemon f(o);
  std::string out;
  std::string sock = "--socket=" + f.d->socket();
  ASSERT_EQ(run_command({ccmux_bin(), sock, "token", "create", "my-phone"}, &out), 0) << out;
  std::string token = out.substr(0, out.find('\n'));
  EXPECT_EQ(token.rfind("ccmux_", 0), 0u) << out;
  ASSERT_EQ(run_command({ccmux_bin(), sock, "token", "list"}, &out), 0);
  EXPECT_NE(out.find("my-phone"), std::string::npos);
  EXPECT_EQ(out.find(token), std::string::npos) << "list must not show the token";

  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "auth-check " + token}})["id"];
  c->request("session.send", {{"session", id}, {"prompt", "auth-check ccmux_not-a-real-token-at-all"}});
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }, 20000));
  EXPECT_NE(f.d->log().find("auth-probe: accepted my-phone"), std::string::npos) << f.d->log();
  EXPECT_NE(f.d->log().find("auth-probe: rejected"), std::string::npos);
  // A plugin's in-daemon client (what a remote transport uses) may not manage tokens.
  EXPECT_NE(f.d->log().find("auth-probe: token.list -> forbidden"), std::string::npos) << f.d->log();

  ASSERT_EQ(run_command({ccmux_bin(), sock, "token", "revoke", "my-phone"}, &out), 0) << out;
  for (int i = 0; i < 50 && f.d->log().find("auth-probe: revoked my-phone") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NE(f.d->log().find("auth-probe: revoked my-phone"), std::string::npos);
  EXPECT_EQ(run_command({ccmux_bin(), sock, "token", "revoke", "my-phone"}, &out), 1);
}

TEST(Protocol, PluginBuiltForAnOlderMinorLoadsANewerMinorIsRefused) {
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: old_minor\n    path: " + test_plugin("old_minor") + "\n  - name: newer_minor\n    path: " +
                 test_plugin("newer_minor") + "\n";
  FakeDaemon f(o);
  auto c = f.d->connect();
  std::string all = c->request("plugins.list")["plugins"].dump();
  EXPECT_NE(all.find(R"("name":"old_minor","path")"), std::string::npos) << all;
  EXPECT_NE(all.find("\"sdk\":\"1.0\""), std::string::npos) << all;
  const std::string mine = std::to_string(CCMUX_SDK_VERSION_MAJOR) + "." + std::to_string(CCMUX_SDK_VERSION_MINOR);
  const std::string newer = std::to_string(CCMUX_SDK_VERSION_MAJOR) + "." + std::to_string(CCMUX_SDK_VERSION_MINOR + 1);
  EXPECT_NE(all.find("built for SDK " + newer + ", newer than ccmuxd's " + mine + ": upgrade ccmuxd"), std::string::npos) << all;
  EXPECT_NE(f.d->log().find("built for SDK 1.0, host table"), std::string::npos);
}

TEST(Protocol, LargeReplayOverTheSocketIsCompleteAndInOrder) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string words;
  for (int i = 0; i < 30000; ++i) words += "word" + std::to_string(i) + " ";
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", words}})["id"];
  {
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_kind("result", 60000));
  }
  uint64_t head = c->request("session.get", {{"session", id}})["last_seq"];
  ASSERT_GT(head, 30000u);
  // A second client reads everything (several MB, more than the pause threshold) from seq 1,
  // slowly at first so the daemon has to pause and resume the replay.
  auto r = f.d->connect();
  r->request("subscribe", {{"session", id}, {"from_seq", 1}});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  expect_events_in_order(*r, head, "the replaying client");
}

TEST(Protocol, AClientThatDoesNotReadDoesNotSlowOthersAndLaterGetsEverything) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}})["id"];
  auto stuck = f.d->connect();  // subscribes, then reads nothing for a while
  stuck->request("subscribe", {{"session", id}, {"from_seq", 1}});
  auto fast = f.d->connect();
  EventLog live(*fast, id);
  std::string words;
  for (int i = 0; i < 30000; ++i) words += "w" + std::to_string(i) + " ";
  c->request("session.send", {{"session", id}, {"prompt", words}});
  ASSERT_TRUE(live.wait_kind("result", 30000)) << "the fast client was held up";
  uint64_t head = live.events().back()["seq"];
  expect_events_in_order(*stuck, head, "the stuck client");
}

TEST(Protocol, SocketFolderPlantedAsASymlinkIsRefused) {
  TempDir t;
  std::filesystem::create_directories(t.path + "/elsewhere");
  std::filesystem::create_directory_symlink(t.path + "/elsewhere", t.path + "/ccmux-planted");
  write_file(t.path + "/c.yaml", "daemon:\n  state_dir: " + t.path + "/state\n  socket: " + t.path +
                                     "/ccmux-planted/ccmuxd.sock\nclaude:\n  path: /bin/true\n");
  std::string out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--config", t.path + "/c.yaml"}, &out), 1);
  EXPECT_NE(out.find("is not a directory owned by this user"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(t.path + "/elsewhere/ccmuxd.sock"));
}

TEST(Protocol, MegabyteLinesFromClaudeAreStoredAndForwardedWhole) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "bigline please"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 30000));
  auto big = log.of_kind("assistant");
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0]["payload"]["message"]["content"][0]["text"].get<std::string>().size(), 5u << 20);
  EXPECT_TRUE(log.of_kind("parse_error").empty());
}

TEST(Protocol, PluginClientFlowControlPausesAndResumesWithoutLoss) {
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: slow_reader\n    required: true\n    path: " + test_plugin("slow_reader") + "\n";
  FakeDaemon f(o);
  auto c = f.d->connect();
  std::string words;
  for (int i = 0; i < 200; ++i) words += "w" + std::to_string(i) + " ";
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", words}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 20000));
  uint64_t result_seq = log.of_kind("result")[0]["seq"];
  std::string want = "slow: reached seq " + std::to_string(result_seq) + " in order";
  for (int i = 0; i < 100 && f.d->log().find(want) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::string text = f.d->log();
  EXPECT_NE(text.find("slow: paused at seq 3"), std::string::npos) << text;
  EXPECT_NE(text.find("slow: resuming, 0 events arrived while paused"), std::string::npos) << text;
  EXPECT_NE(text.find(want), std::string::npos) << text;
}

// Issue 10 item 2: a field of the wrong JSON type is the client's mistake: it gets an error
// naming the field and the type, and the daemon (and this connection) go on.
TEST(Protocol, WrongJsonTypesAreAnsweredAndTheDaemonGoesOn) {
  FakeDaemon f;
  Raw r(f.d->socket());
  auto ping_still_answers = [&](const std::string& after) {
    r.send_all(R"({"type":"request","id":"p","method":"ping"})" "\n");
    json pong = r.line();
    EXPECT_EQ(pong["result"]["pong"], true) << "no pong after " << after << ": " << pong.dump();
  };
  // Before the hello too: the type is read first.
  r.send_all(R"({"type":5})" "\n");
  json e = r.line();
  EXPECT_EQ(e["code"], "bad_message") << e.dump();
  EXPECT_NE(e.value("message", "").find("'type' must be a string"), std::string::npos) << e.dump();
  r.send_all(R"({"type":"hello","protocol":"1"})" "\n");
  e = r.line();
  EXPECT_EQ(e["code"], "bad_message") << e.dump();
  EXPECT_NE(e.value("message", "").find("'protocol' must be an integer"), std::string::npos) << e.dump();
  r.send_all(R"({"type":"hello","protocol":1,"watch_approvals":"yes"})" "\n");
  e = r.line();
  EXPECT_EQ(e["code"], "bad_message") << e.dump();
  EXPECT_NE(e.value("message", "").find("'watch_approvals' must be true or false"), std::string::npos) << e.dump();
  r.send_all(R"({"type":"hello","protocol":1})" "\n");
  ASSERT_EQ(r.line()["type"], "hello");

  for (const char* msg : {R"({"type":5})", R"({"type":null})", R"({"type":["request"]})"}) {
    r.send_all(std::string(msg) + "\n");
    e = r.line();
    EXPECT_EQ(e["type"], "error") << msg;
    EXPECT_EQ(e["code"], "bad_message") << msg << " -> " << e.dump();
    ping_still_answers(msg);
  }
  // A request keeps its id: the client can match the error to what it sent.
  r.send_all(R"({"type":"request","id":41,"method":5})" "\n");
  e = r.line();
  EXPECT_EQ(e["id"], 41) << e.dump();
  EXPECT_EQ(e["error"]["code"], "bad_message") << e.dump();
  EXPECT_NE(e["error"].value("message", "").find("'method' must be a string"), std::string::npos) << e.dump();
  ping_still_answers("method 5");

  struct Case {
    const char* method;
    json params;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"session.new", {{"cwd", 5}}, "parameter 'cwd' must be a string"},
      {"session.new", {{"cwd", f.d->project()}, {"model", json::array()}}, "parameter 'model' must be a string"},
      {"session.new", {{"cwd", f.d->project()}, {"permission_mode", true}}, "parameter 'permission_mode' must be a string"},
      {"subscribe", {{"session", 5}}, "parameter 'session' must be a string"},
      {"subscribe", {{"session", "*"}, {"from_seq", "1"}}, "parameter 'from_seq' must be an integer"},
      {"subscribe", {{"session", "*"}, {"from_seq", -3}}, "parameter 'from_seq' must be an integer from 0"},
      {"unsubscribe", {{"session", json::object()}}, "parameter 'session' must be a string"},
      {"approvals.list", {{"all", "yes"}}, "parameter 'all' must be true or false"},
      {"approvals.list", {{"all", true}, {"limit", "10"}}, "parameter 'limit' must be an integer"},
      {"approvals.list", {{"all", true}, {"limit", -1}}, "parameter 'limit' must be an integer from 1"},
      {"approval.answer", {{"id", "a-1"}, {"decision", "allow"}, {"reason", 5}}, "parameter 'reason' must be a string"},
      {"approval.answer", {{"id", "a-1"}, {"decision", "deny"}, {"interrupt", "yes"}}, "parameter 'interrupt' must be true or false"},
      {"approval.answer", {{"id", "a-1"}, {"decision", "allow"}, {"by", 7}}, "parameter 'by' must be a string"},
      {"approval.answer", {{"id", "a-1"}, {"decision", "allow"}, {"updated_input", "rm"}}, "parameter 'updated_input' must be an object"},
      {"approval.answer", {{"id", "a-1"}, {"decision", "allow"}, {"answers", json::array()}}, "parameter 'answers' must be an object"},
      {"hook.event", {{"input", {{"session_id", "x"}, {"hook_event_name", "PreToolUse"}, {"cwd", 5}}}}, "'cwd' must be a string"},
      {"hook.event", {{"input", {{"session_id", "x"}, {"hook_event_name", "PreToolUse"}, {"tool_name", 5}}}}, "'tool_name' must be a string"},
      {"hook.event", {{"input", {{"session_id", "x"}, {"hook_event_name", "SessionEnd"}, {"reason", 5}}}}, "'reason' must be a string"},
      {"hook.event", {{"input", {{"session_id", "x"}, {"hook_event_name", "PreToolUse"}, {"tool_name", "Bash"}, {"tool_input", "ls"}}}}, "'tool_input' must be an object"},
      {"hook.event", {{"input", {{"session_id", "y"}, {"hook_event_name", "PermissionRequest"}, {"tool_name", "Bash"}}}, {"wait_s", "5"}}, "parameter 'wait_s' must be a number"},
      {"ping", "not an object", "'params' must be an object"},
  };
  int id = 100;
  for (auto& c : cases) {
    json req = {{"type", "request"}, {"id", id}, {"method", c.method}, {"params", c.params}};
    r.send_all(req.dump() + "\n");
    e = r.line();
    EXPECT_EQ(e["id"], id) << req.dump() << " -> " << e.dump();
    EXPECT_EQ(e["error"]["code"], "bad_params") << req.dump() << " -> " << e.dump();
    EXPECT_NE(e["error"].value("message", "").find(c.says), std::string::npos) << req.dump() << " -> " << e.dump();
    ping_still_answers(req.dump());
    ++id;
  }
  EXPECT_EQ(kill(f.d->pid(), 0), 0) << "ccmuxd died";
  auto c = f.d->connect();
  EXPECT_EQ(c->request("ping")["pong"], true);
}

// Issue 10 item 6: the subscribe response names the subscription and every event of it,
// replayed or live, carries that id (replays used to say 0).
TEST(Protocol, EverySubscribedEventCarriesTheIdTheSubscribeResponseGave) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "one two"}})["id"];
  {
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_kind("result", 20000));
  }
  auto r = f.d->connect();
  json all = r->request("subscribe", {{"session", "*"}});
  ASSERT_TRUE(all.contains("subscription")) << all.dump();
  json one = r->request("subscribe", {{"session", id}, {"from_seq", 1}});
  ASSERT_TRUE(one.contains("subscription")) << one.dump();
  uint64_t all_id = all["subscription"], one_id = one["subscription"];
  EXPECT_GT(all_id, 0u);
  EXPECT_GT(one_id, 0u);
  EXPECT_NE(all_id, one_id);
  uint64_t head = one["head"];
  ASSERT_GT(head, 3u);
  // The replay: all of the session subscription's.
  for (uint64_t seq = 1; seq <= head;) {
    auto m = r->next(10000);
    ASSERT_TRUE(m) << "replay stopped before seq " << seq;
    if ((*m)["type"] != "event") continue;
    EXPECT_EQ((*m)["subscription"], one_id) << m->dump();
    ASSERT_EQ((*m)["seq"], seq);
    ++seq;
  }
  // A live event comes once per subscription, each with its own id.
  c->request("session.send", {{"session", id}, {"prompt", "three"}});
  std::map<uint64_t, int> prompt_sent;
  for (int i = 0; i < 200 && prompt_sent.size() < 2; ++i) {
    auto m = r->next(10000);
    ASSERT_TRUE(m);
    if ((*m)["type"] == "event" && (*m)["kind"] == "prompt_sent") prompt_sent[(*m)["subscription"]]++;
  }
  EXPECT_EQ(prompt_sent, (std::map<uint64_t, int>{{all_id, 1}, {one_id, 1}}));
}
