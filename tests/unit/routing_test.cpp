// SDK 1.6 on a real ccmuxd: requests addressed to other machines go to the router plugin
// (tests/plugins/router_probe_plugin.cpp, machine "here"), its answers reach the right
// client, async methods answer later, client_push and its notes, remote approvals.
#include "harness.h"
#include "raw_socket.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
std::string plugin_path(const std::string& name) { return std::string(CCMUX_TEST_PLUGIN_DIR) + "/lib" + name + ".so"; }

DaemonOptions with_router() {
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: router_probe\n    required: true\n    path: " + plugin_path("router_probe") + "\n";
  return o;
}

// Polls the daemon's log for `text` (after position `from`); returns where it starts, or npos.
size_t wait_log(const Daemon& d, const std::string& text, size_t from = 0, int timeout_ms = 10000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    size_t at = d.log().find(text, from);
    if (at != std::string::npos || std::chrono::steady_clock::now() > deadline) return at;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string error_code(Client& c, const std::string& method, const json& params, std::string* message = nullptr) {
  try {
    c.request(method, params, 10000);
  } catch (const RequestFailed& e) {
    if (message) *message = e.what();
    return e.code;
  }
  return "(answered)";
}

void hello(Raw& r) {
  r.send_all(R"({"type":"hello","protocol":1})" "\n");
  EXPECT_EQ(r.line()["type"], "hello");
}

std::string request_line(const std::string& id, const std::string& method, const json& params) {
  return json{{"type", "request"}, {"id", id}, {"method", method}, {"params", params}}.dump() + "\n";
}
}  // namespace

TEST(Routing, RequestsForOtherMachinesGoToTheRouterWithTheirParamsUnchanged) {
  FakeDaemon f(with_router());
  auto c = f.d->connect();
  json r = c->request("session.get", {{"session", "build-box/s-1"}});
  EXPECT_EQ(r["routed"], true);
  EXPECT_EQ(r["target"], "build-box");
  EXPECT_EQ(r["method"], "session.get");
  EXPECT_EQ(r["params"], json({{"session", "build-box/s-1"}}));  // the prefix is the router's to strip
  EXPECT_EQ(r["trusted"], true);                                  // the local socket
  EXPECT_EQ(r["caller"].get<std::string>().rfind("local:pid", 0), 0u) << r;
  EXPECT_GT(r["client"].get<uint64_t>(), 0u);
  r = c->request("approval.answer", {{"id", "laptop/a-1"}});  // no decision: the registry is bypassed
  EXPECT_EQ(r["target"], "laptop");
  EXPECT_EQ(r["params"], json({{"id", "laptop/a-1"}}));
  r = c->request("session.new", {{"host", "build-box"}, {"cwd", "/src"}});
  EXPECT_EQ(r["target"], "build-box");
  EXPECT_EQ(r["params"], json({{"host", "build-box"}, {"cwd", "/src"}}));
  r = c->request("session.new", {{"host", "auto"}, {"cwd", "/src"}});
  EXPECT_EQ(r["target"], "auto");
  r = c->request("only.there", {{"host", "build-box"}});  // not a method here: still routed
  EXPECT_EQ(r["method"], "only.there");
  EXPECT_EQ(error_code(*c, "probe.fail", {{"host", "build-box"}}), "machine_down");
  // Every client has its own id.
  auto c2 = f.d->connect();
  EXPECT_NE(c2->request("ping", {{"host", "x"}})["client"], c->request("ping", {{"host", "x"}})["client"]);
}

TEST(Routing, ThisMachinesNameAndLocalAreServedHereWithoutTheirPrefix) {
  FakeDaemon f(with_router());
  auto c = f.d->connect();
  json r = c->request("probe.echo", {{"host", "here"}, {"session", "here/s-9"}, {"id", "here/a-3"}, {"x", 1}});
  EXPECT_EQ(r["params"], json({{"session", "s-9"}, {"id", "a-3"}, {"x", 1}}));
  EXPECT_EQ(c->request("probe.echo", {{"host", "local"}})["params"], json::object());
  EXPECT_EQ(c->request("ping", {{"host", "here"}})["pong"], true);
  std::string message;
  EXPECT_EQ(error_code(*c, "session.get", {{"session", "here/s-nope"}}, &message), "not_found");
  EXPECT_NE(message.find("s-nope"), std::string::npos) << message;
  EXPECT_EQ(message.find("here/"), std::string::npos) << message;
}

TEST(Routing, WithoutARouterOtherMachinesAreClearErrorsAndLocalIsServed) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string message;
  EXPECT_EQ(error_code(*c, "ping", {{"host", "build-box"}}, &message), "unknown_host");
  EXPECT_EQ(message, "no machine named build-box: the fleet plugin is not enabled");
  EXPECT_EQ(error_code(*c, "session.get", {{"session", "build-box/s-1"}}, &message), "not_found");
  EXPECT_NE(message.find("build-box/s-1"), std::string::npos) << message;
  EXPECT_EQ(error_code(*c, "approval.answer", {{"id", "laptop/a-1"}, {"decision", "allow"}}), "not_found");
  EXPECT_EQ(c->request("ping", {{"host", "local"}})["pong"], true);
  EXPECT_EQ(c->request("ping", {{"host", ""}})["pong"], true);
}

TEST(Routing, HostileAddressesAreAnsweredAndTheDaemonGoesOn) {
  for (bool router : {true, false}) {
    FakeDaemon f(router ? with_router() : DaemonOptions{});
    auto c = f.d->connect();
    std::string message;
    EXPECT_EQ(error_code(*c, "ping", {{"host", 5}}, &message), "bad_params") << router;
    EXPECT_NE(message.find("'host' must be a string"), std::string::npos) << message;
    EXPECT_EQ(error_code(*c, "ping", {{"host", json::array({"a"})}}), "bad_params");
    EXPECT_EQ(error_code(*c, "session.get", {{"session", "box/"}}), "bad_params");
    EXPECT_EQ(error_code(*c, "session.get", {{"session", "/"}}), "not_found");  // no address: the method's answer
    EXPECT_EQ(error_code(*c, "session.get", {{"session", "/s-1"}}), "not_found");
    std::string huge(1 << 20, 'm');
    EXPECT_EQ(error_code(*c, "ping", {{"host", huge}}, &message), router ? "bad_params" : "unknown_host");
    EXPECT_LT(message.size(), 300u);
    EXPECT_EQ(error_code(*c, "session.get", {{"session", huge + "/s-1"}}), "not_found");
    EXPECT_EQ(c->request("ping")["pong"], true);
  }
}

TEST(Routing, EachRoutedAnswerReachesTheClientThatAskedWithItsId) {
  FakeDaemon f(with_router());
  Raw a(f.d->socket()), b(f.d->socket());
  hello(a);
  hello(b);
  // Answered from the router's threads, slowest first asked.
  a.send_all(request_line("a-slow", "probe.thread", {{"host", "m"}, {"delay_ms", 400}, {"tag", "A1"}}));
  a.send_all(request_line("a-fast", "probe.thread", {{"host", "m"}, {"delay_ms", 50}, {"tag", "A2"}}));
  b.send_all(request_line("b-1", "probe.thread", {{"host", "m"}, {"delay_ms", 200}, {"tag", "B1"}}));
  json first = a.line(), second = a.line(), onb = b.line();
  EXPECT_EQ(first["id"], "a-fast") << first;
  EXPECT_EQ(first["result"]["params"]["tag"], "A2") << first;
  EXPECT_EQ(second["id"], "a-slow") << second;
  EXPECT_EQ(second["result"]["params"]["tag"], "A1") << second;
  EXPECT_EQ(onb["type"], "response");
  EXPECT_EQ(onb["id"], "b-1") << onb;
  EXPECT_EQ(onb["result"]["params"]["tag"], "B1") << onb;
  EXPECT_NE(first["result"]["client"], onb["result"]["client"]);
}

TEST(Routing, TheRouterIsOneAndOnlyItsPluginTellsOfRemoteApprovals) {
  FakeDaemon f(with_router());
  for (const char* line : {"router-probe: remote approvals before the router -> refused",
                           "router-probe: register_router -> ok", "router-probe: second register_router -> refused",
                           "router-probe: bad local name -> refused", "router-probe: answer an unknown call -> refused"})
    EXPECT_NE(wait_log(*f.d, line), std::string::npos) << line << "\n" << f.d->log();
  // Async methods are listed like the others, with the plugin that serves them.
  auto c = f.d->connect();
  json methods = c->request("methods.list")["methods"];
  bool found = false;
  for (auto& m : methods)
    if (m["name"] == "probe.later") {
      found = true;
      EXPECT_EQ(m["plugin"], "router_probe") << m;
      EXPECT_TRUE(m["params"].is_null()) << m;
    }
  EXPECT_TRUE(found) << methods;
}

TEST(AsyncMethod, IsAnsweredLaterFromAnotherThreadOnceOnly) {
  FakeDaemon f(with_router());
  auto c = f.d->connect();
  auto t0 = std::chrono::steady_clock::now();
  json r = c->request("probe.later", {{"delay_ms", 200}, {"twice", true}}, 10000);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  EXPECT_EQ(r["answered"], "later");
  EXPECT_EQ(r["params"]["delay_ms"], 200);
  EXPECT_EQ(r["caller"].get<std::string>().rfind("local:pid", 0), 0u) << r;
  EXPECT_NE(wait_log(*f.d, "router-probe: second answer -> refused"), std::string::npos) << f.d->log();
  std::string message;
  EXPECT_EQ(error_code(*c, "probe.bad_json", json::object(), &message), "internal");
  EXPECT_NE(message.find("invalid JSON"), std::string::npos) << message;
  EXPECT_EQ(c->request("ping")["pong"], true);  // the connection goes on
}

TEST(AsyncMethod, AnAnswerAfterTheClientLeftIsAcceptedAndDropped) {
  FakeDaemon f(with_router());
  {
    Raw r(f.d->socket());
    hello(r);
    r.send_all(request_line("gone", "probe.later", {{"delay_ms", 300}}));
    r.send_all(request_line("gone-too", "probe.thread", {{"host", "m"}, {"delay_ms", 300}}));
    ASSERT_NE(wait_log(*f.d, "router-probe: route probe.thread"), std::string::npos);
  }  // closed before the answers
  EXPECT_NE(wait_log(*f.d, "-> accepted"), std::string::npos) << f.d->log();
  auto c = f.d->connect();
  EXPECT_EQ(c->request("ping")["pong"], true);
}

TEST(Routing, CallsStillOpenWhenTheRouterStopsAreAnsweredWithAnError) {
  FakeDaemon f(with_router());
  Raw r(f.d->socket());
  hello(r);
  r.send_all(request_line("never", "probe.never", json::object()));
  r.send_all(request_line("held", "probe.hold", {{"session", "build-box/s-1"}}));
  ASSERT_NE(wait_log(*f.d, "router-probe: route probe.hold"), std::string::npos) << f.d->log();
  f.d->terminate();  // SIGTERM: the plugin stops while the socket still serves, then the daemon exits
  json one = r.line(), two = r.line();
  EXPECT_EQ(one["error"]["code"], "plugin_stopped") << one;
  EXPECT_EQ(two["error"]["code"], "plugin_stopped") << two;
  EXPECT_EQ(std::set<std::string>({one["id"], two["id"]}), std::set<std::string>({"never", "held"}));
}

TEST(ClientPush, AReadyClientTakesMoreAndAFullOneIsNotedWhenItDrainsAndWhenItGoes) {
  FakeDaemon f(with_router());
  auto c = f.d->connect();
  json r = c->request("probe.push", {{"host", "m"}});
  auto pushed = c->next(5000);
  ASSERT_TRUE(pushed);
  EXPECT_EQ((*pushed)["type"], "pushed");
  EXPECT_EQ((*pushed)["target"], "m");
  std::string me = std::to_string(r["client"].get<uint64_t>());
  EXPECT_NE(wait_log(*f.d, "router-probe: push to client " + me + " -> 1"), std::string::npos) << f.d->log();
  // A paused in-daemon client: the push is delivered but answers 0; resumed, the router hears
  // READY; closed from that note, GONE.
  c->request("probe.flow");
  size_t at = wait_log(*f.d, "-> 0");
  ASSERT_NE(at, std::string::npos) << f.d->log();
  std::string log = f.d->log();
  size_t from = log.rfind("push to client ", at) + std::string("push to client ").size();
  std::string flow = log.substr(from, at - from - 1);
  size_t ready = wait_log(*f.d, "router-probe: note ready " + flow + "\n", at);
  EXPECT_NE(ready, std::string::npos) << f.d->log();
  EXPECT_NE(wait_log(*f.d, "router-probe: note gone " + flow + "\n", ready), std::string::npos) << f.d->log();
  log = f.d->log();
  EXPECT_NE(log.find("router-probe: flow client got pushed"), std::string::npos) << log;
  EXPECT_NE(log.find("router-probe: flow client got response"), std::string::npos) << log;
  EXPECT_EQ(log.find("router-probe: note ready " + me + "\n"), std::string::npos) << "never full: no READY";
}

TEST(ClientPush, TheRouterHearsWhenAClientItWasGivenCloses) {
  FakeDaemon f(with_router());
  auto other = f.d->connect();
  other->request("ping");  // never routed: the router hears nothing of it
  std::string id;
  {
    Raw r(f.d->socket());
    hello(r);
    r.send_all(request_line("h", "probe.hold", {{"host", "m"}}));
    size_t at = wait_log(*f.d, "router-probe: route probe.hold for client ");
    ASSERT_NE(at, std::string::npos) << f.d->log();
    std::string log = f.d->log();
    size_t from = at + std::string("router-probe: route probe.hold for client ").size();
    id = log.substr(from, log.find(' ', from) - from);
  }
  EXPECT_NE(wait_log(*f.d, "router-probe: note gone " + id + "\n"), std::string::npos) << f.d->log();
  EXPECT_EQ(other->request("ping")["pong"], true);
}

TEST(RemoteApprovals, WatchersGetTheDifferenceAndSeeThemInTheSnapshotAndTheList) {
  FakeDaemon f(with_router());
  auto watcher = f.d->connect(true);
  auto snapshot = watcher->next(5000);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ((*snapshot)["pending"], json::array());
  auto c = f.d->connect();
  json a1 = {{"id", "m1/a-1"}, {"session", "m1/s-1"}, {"state", "pending"}, {"tool_name", "Bash"}};
  json a2 = {{"id", "m1/a-2"}, {"session", "m1/s-2"}, {"state", "pending"}, {"tool_name", "Edit"}};
  EXPECT_EQ(c->request("probe.remote_approvals", {{"machine", "m1"}, {"approvals", {a1, a2}}})["ok"], true);
  for (auto& want : {a1, a2}) {
    auto m = watcher->next(5000);
    ASSERT_TRUE(m);
    EXPECT_EQ((*m)["type"], "approval_requested");
    EXPECT_EQ((*m)["approval"], want);
  }
  auto late = f.d->connect(true);
  auto snap = late->next(5000);
  ASSERT_TRUE(snap);
  EXPECT_EQ((*snap)["type"], "approvals");
  EXPECT_EQ((*snap)["pending"], json::array({a1, a2}));
  EXPECT_EQ(c->request("approvals.list")["approvals"], json::array({a1, a2}));
  EXPECT_EQ(c->request("status")["pending_approvals"], 0);  // this machine's own
  EXPECT_EQ(c->request("probe.remote_approvals", {{"machine", "m1"}, {"approvals", {a2}}})["ok"], true);
  auto gone = watcher->next(5000);
  ASSERT_TRUE(gone);
  EXPECT_EQ((*gone)["type"], "approval_resolved");
  EXPECT_EQ((*gone)["approval"]["id"], "m1/a-1");
  EXPECT_EQ((*gone)["approval"]["decision"], "unknown");
  EXPECT_EQ((*gone)["approval"]["state"], "resolved");
  EXPECT_EQ(c->request("approvals.list")["approvals"], json::array({a2}));
  // This machine's own approvals come first, and reach escalation channels; other machines'
  // do not (Telegram belongs to the machine that owns the approval).
  std::string session = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "ask me"}})["id"];
  size_t seen = wait_log(*f.d, "router-probe: channel got approval_requested a-");
  ASSERT_NE(seen, std::string::npos) << f.d->log();
  EXPECT_EQ(f.d->log().find("router-probe: channel got approval_requested m1/"), std::string::npos) << f.d->log();
  EXPECT_EQ(f.d->log().find("router-probe: channel got approval_resolved m1/"), std::string::npos) << f.d->log();
  json listed = c->request("approvals.list")["approvals"];
  ASSERT_EQ(listed.size(), 2u) << listed;
  EXPECT_EQ(listed[0]["session"], session);
  EXPECT_EQ(listed[1], a2);
  EXPECT_EQ(c->request("status")["pending_approvals"], 1);
  // Not an array, or not a machine's name: refused, nothing changes.
  EXPECT_EQ(c->request("probe.remote_approvals", {{"machine", "m1"}, {"raw", "{}"}})["ok"], false);
  EXPECT_EQ(c->request("probe.remote_approvals", {{"machine", "m1"}, {"raw", "[{"}})["ok"], false);
  EXPECT_EQ(c->request("probe.remote_approvals", {{"machine", "no/such"}, {"approvals", json::array()}})["ok"], false);
  EXPECT_EQ(c->request("approvals.list")["approvals"].back(), a2);
}
