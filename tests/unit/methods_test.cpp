// The method registry over a real socket: methods.list describes every method once (trust,
// typed params, result), the daemon enforces what it describes, and plugins' methods live in
// the same registry (tests/plugins/method_probe_plugin.cpp).
#include "harness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
std::map<std::string, json> by_name(const json& methods) {
  std::map<std::string, json> out;
  for (auto& m : methods) out[m["name"].get<std::string>()] = m;
  return out;
}

std::string error_of(Client& c, const std::string& method, const json& params, std::string* message = nullptr) {
  try {
    c.request(method, params);
    return "";
  } catch (const RequestFailed& e) {
    if (message) *message = e.what();
    return e.code;
  }
}

// The daemon's log once it holds `text` (the probe plugin's client answers come from the loop).
std::string log_with(Daemon& d, const std::string& text) {
  for (int i = 0; i < 250 && d.log().find(text) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return d.log();
}

DaemonOptions with_probe() {
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: method_probe\n    required: true\n    path: " + std::string(CCMUX_TEST_PLUGIN_DIR) +
                 "/libmethod_probe.so\n";
  return o;
}
}  // namespace

TEST(Methods, ListDescribesEveryBuiltinOnceWithTrustTypedParamsAndResult) {
  FakeDaemon f;
  auto c = f.d->connect();
  json list = c->request("methods.list")["methods"];
  auto methods = by_name(list);
  EXPECT_EQ(methods.size(), list.size()) << "a name listed twice";
  const std::set<std::string> builtin = {
      "ping", "status", "projects.list", "session.new", "session.list", "session.get", "session.send", "session.stop",
      "session.resume", "session.interrupt", "session.mode", "subscribe", "unsubscribe", "approvals.list",
      "approval.answer", "token.create", "token.list", "token.revoke", "plugins.list", "hook.event", "event.payload", "daemon.shutdown",
      "methods.list", "cert.issue", "cert.list", "cert.revoke", "worktree.list", "worktree.remove", "worktree.prune"};
  std::set<std::string> names;
  for (auto& [name, m] : methods) names.insert(name);
  EXPECT_EQ(names, builtin);
  const std::set<std::string> local_only = {"token.create", "token.list", "token.revoke", "hook.event", "daemon.shutdown",
                                            "cert.issue", "cert.list", "cert.revoke"};
  for (auto& [name, m] : methods) {
    EXPECT_EQ(m["trust"], local_only.count(name) ? "local" : "any") << name;
    EXPECT_FALSE(m.value("result", "").empty()) << name;
    EXPECT_FALSE(m.contains("plugin")) << name;
    ASSERT_TRUE(m["params"].is_array()) << name;
    for (auto& p : m["params"]) {
      EXPECT_TRUE(p["name"].is_string() && p["required"].is_boolean() && !p.value("meaning", "").empty()) << name << ": " << p;
      static const std::set<std::string> types = {"string", "integer", "number", "boolean", "object", "array", "any"};
      EXPECT_TRUE(types.count(p.value("type", ""))) << name << ": " << p;
    }
  }
  json limit = methods["approvals.list"]["params"][1];
  EXPECT_EQ(limit, (json{{"name", "limit"}, {"type", "integer"}, {"required", false}, {"meaning", limit["meaning"]},
                         {"min", 1}, {"max", 10000}}));
  EXPECT_EQ(methods["session.send"]["params"][1]["name"], "prompt");
  EXPECT_EQ(methods["session.send"]["params"][1]["required"], true);
}

// What the list says is what the daemon does: every listed method is served, and one called
// without params is refused naming its first required param.
TEST(Methods, EveryListedMethodIsServedAndItsRequiredParamsAreEnforced) {
  FakeDaemon f;
  auto c = f.d->connect();
  json list = c->request("methods.list");
  ASSERT_GE(list["methods"].size(), 22u);
  for (auto& m : list["methods"]) {
    std::string name = m["name"];
    if (name == "session.new") continue;  // no required param: it would start a session
    if (name == "daemon.shutdown") continue;  // no required param: it would stop the daemon (its own test)
    std::string message;
    std::string code = error_of(*c, name, json::object(), &message);
    EXPECT_NE(code, "unknown_method") << name;
    const json* first_required = nullptr;
    for (auto& p : m["params"])
      if (p["required"] == true && !first_required) first_required = &p;
    if (!first_required) continue;
    EXPECT_EQ(code, "bad_params") << name << ": " << message;
    std::string param = (*first_required)["name"];
    EXPECT_NE(message.find(param), std::string::npos) << name << " refused without naming '" << param << "': " << message;
  }
}

TEST(Methods, UnknownNamesAnswerAsBefore) {
  FakeDaemon f;
  auto c = f.d->connect();
  std::string message;
  EXPECT_EQ(error_of(*c, "no.such", json::object(), &message), "unknown_method");
  EXPECT_EQ(message, "unknown method 'no.such'");
  // token.* names are the daemon's: to the local socket an unknown one is just unknown.
  EXPECT_EQ(error_of(*c, "token.nope", json::object(), &message), "unknown_method");
  EXPECT_EQ(message, "unknown method 'token.nope'");
}

TEST(Methods, PluginMethodsJoinTheRegistryAndCannotTakeATakenName) {
  FakeDaemon f(with_probe());
  auto c = f.d->connect();
  std::string log = log_with(*f.d, "method-probe: register token.mint");
  EXPECT_NE(log.find("method-probe: register probe.echo -> ok"), std::string::npos) << log;
  EXPECT_NE(log.find("method-probe: register probe.echo -> refused"), std::string::npos) << "its own name twice";
  for (const char* taken : {"session.list", "methods.list", "subscribe", "token.mint"})
    EXPECT_NE(log.find(std::string("method-probe: register ") + taken + " -> refused"), std::string::npos) << taken;

  auto methods = by_name(c->request("methods.list")["methods"]);
  ASSERT_TRUE(methods.count("probe.echo"));
  EXPECT_EQ(methods["probe.echo"], (json{{"name", "probe.echo"}, {"trust", "any"}, {"params", nullptr},
                                         {"result", "declared by the plugin"}, {"plugin", "method_probe"}}));
  EXPECT_FALSE(methods["session.list"].contains("plugin"));
  EXPECT_FALSE(methods.count("token.mint"));
  EXPECT_EQ(c->request("plugins.list")["plugins"][0]["methods"], json::array({"probe.echo"}));

  json echo = c->request("probe.echo", {{"x", 1}});
  EXPECT_EQ(echo["params"], (json{{"x", 1}}));
  EXPECT_EQ(echo["trusted"], true);
  EXPECT_TRUE(c->request("session.list")["sessions"].is_array()) << "the built-in still answers";
}

// A plugin's in-daemon client is how remote transports' users reach the daemon: local-only
// methods are refused to it before their params are read, unknown token.* names included.
TEST(Methods, RemoteCallersGetTheTrustTheListShows) {
  FakeDaemon f(with_probe());
  std::string log = log_with(*f.d, "method-probe: builtin ->");
  EXPECT_NE(log.find("method-probe: list -> ok {\"methods\":["), std::string::npos) << log;
  EXPECT_NE(log.find("method-probe: hook -> forbidden: hook.event is for `ccmux hook` over the local socket"),
            std::string::npos) << log;
  EXPECT_NE(log.find("method-probe: token-create -> forbidden: tokens are managed over the local socket only"),
            std::string::npos) << log;
  EXPECT_NE(log.find("method-probe: token-unknown -> forbidden: tokens are managed over the local socket only"),
            std::string::npos) << log;
  EXPECT_NE(log.find(R"(method-probe: echo -> ok {"caller":"plugin:method_probe:probe","params":{"x":1},"trusted":false})"),
            std::string::npos) << log;
  EXPECT_NE(log.find(R"(method-probe: builtin -> ok {"sessions":[)"), std::string::npos) << log;
}
