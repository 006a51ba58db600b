#include "e2e.h"

#include <ccmux/plugin_abi.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <sqlite3.h>
#include <sys/wait.h>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {
// The SDK this tree builds ("1.3"): the figures plugins report and errors quote.
const std::string kSdk = std::to_string(CCMUX_SDK_VERSION_MAJOR) + "." + std::to_string(CCMUX_SDK_VERSION_MINOR);
}  // namespace

namespace {
std::string plugin(const std::string& name) { return std::string(CCMUX_TEST_PLUGIN_DIR) + "/lib" + name + ".so"; }
}  // namespace

class HelloPluginE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.extra_yaml = "plugins:\n  - name: hello\n    path: " + plugin("hello") + "\n    greeting: howdy\n";
    start(o);
  }
};

TEST_F(HelloPluginE2E, ReceivesEventsAndDecidesApprovalsAsAProvider) {
  auto c = daemon->connect();
  auto plugins = c->request("plugins.list")["plugins"];
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0]["state"], "running");
  EXPECT_EQ(plugins[0]["sdk"], kSdk);
  std::string id = new_session(*c, "tool: Bash {\"command\":\"touch hello-from-plugin\",\"description\":\"greet\"}");
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  auto r = log.of_kind("approval_resolved");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]["payload"]["decision"], "allow");
  EXPECT_EQ(r[0]["payload"]["decided_by"], "provider:hello/echo-hello");
  EXPECT_TRUE(std::filesystem::exists(daemon->project() + "/hello-from-plugin"));
  std::string log_text = daemon->log();
  EXPECT_NE(log_text.find("client: daemon 0.1.0 speaks protocol 1"), std::string::npos) << log_text;
  EXPECT_NE(log_text.find("posted from the plugin's thread"), std::string::npos);
  // A call the provider does not allow goes to a human, and the plugin's channel hears of it.
  c->request("session.send", {{"session", id}, {"prompt", "tool: Bash {\"command\":\"touch other\",\"description\":\"x\"}"}});
  ASSERT_TRUE(log.wait_kind("approval_requested"));
  std::string aid = log.of_kind("approval_requested")[0]["payload"]["id"];
  c->request("approval.answer", {{"id", aid}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }));
  log_text = daemon->log();
  EXPECT_NE(log_text.find("escalation: approval_requested " + aid), std::string::npos) << log_text;
  EXPECT_NE(log_text.find("escalation: approval_resolved " + aid), std::string::npos);
  EXPECT_NE(daemon->log().find("howdy: " + id + " #1 session_created"), std::string::npos) << daemon->log();
  // Its key-value storage lives in the daemon's store.
  daemon->terminate();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir.path + "/state/ccmux.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT value FROM plugin_kv WHERE plugin='hello' AND key='last_event'", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  std::string last = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(last.rfind(id + " #", 0), 0u) << last;
}

class BadPluginsE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.extra_yaml = "plugins:\n  - name: wrong_abi\n    path: " + plugin("wrong_abi") + "\n  - name: failing_start\n    path: " +
                   plugin("failing_start") + "\n  - name: missing\n    path: /nonexistent/libmissing.so\n";
    start(o);
  }
};

TEST_F(BadPluginsE2E, WrongAbiAndBrokenPluginsAreRefusedAndTheDaemonGoesOn) {
  auto c = daemon->connect();
  auto plugins = c->request("plugins.list")["plugins"];
  ASSERT_EQ(plugins.size(), 3u);
  std::string all = plugins.dump();
  EXPECT_NE(all.find("built for SDK 2.0, ccmuxd has SDK " + kSdk + ": upgrade ccmuxd"), std::string::npos) << all;
  EXPECT_NE(all.find("failed to start: cannot reach its backend"), std::string::npos) << all;
  EXPECT_NE(all.find("cannot load /nonexistent/libmissing.so"), std::string::npos) << all;
  for (auto& p : plugins) EXPECT_EQ(p["state"], "failed");
  EXPECT_EQ(c->request("ping")["pong"], true);
  // failing_start registered a method, a provider, a channel and a revocation listener before
  // it threw: all forgotten, so nothing calls into its unloaded library.
  try {
    c->request("failing.echo");
    FAIL() << "a failed plugin's method is still served";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "unknown_method");
  }
  c->request("token.create", {{"name", "short-lived"}});
  EXPECT_TRUE(c->request("token.revoke", {{"name", "short-lived"}})["revoked"].get<bool>());
  auto w = daemon->connect(true);
  std::string id = new_session(*w, bash("touch after-failed-plugin"));
  EventLog log(*w, id);
  ASSERT_TRUE(log.wait_kind("approval_requested"));  // its "gate" provider (deny) is not asked
  w->request("approval.answer", {{"id", log.of_kind("approval_requested")[0]["payload"]["id"]}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_TRUE(std::filesystem::exists(daemon->project() + "/after-failed-plugin"));
}

TEST_F(E2E, RequiredPluginThatFailsStopsTheDaemonWithAReason) {
  daemon->terminate();
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: wrong_abi\n    required: true\n    path: " + plugin("wrong_abi") + "\n";
  try {
    Daemon d(dir.path + "/req", api.base_url(), o);
    FAIL() << "daemon started with a broken required plugin";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("(the plugin is required)"), std::string::npos) << e.what();
  }
}

TEST(Config, MalformedConfigIsRefusedWithFileLineColumn) {
  TempDir t;
  write_file(t.path + "/bad.yaml", "daemon:\n  log_level: loud\n");
  std::string out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/bad.yaml"}, &out), 1);
  EXPECT_NE(out.find(t.path + "/bad.yaml:2:14: key 'daemon.log_level': bad value 'loud'"), std::string::npos) << out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--config", t.path + "/bad.yaml"}, &out), 2);
  EXPECT_NE(out.find("bad.yaml:2:14"), std::string::npos) << out;
  write_file(t.path + "/good.yaml", "approval:\n  timeout: 10\n");
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/good.yaml"}, &out), 0) << out;
}

TEST(Config, PluginKeysAreValidatedAgainstTheDeclarationWithPositions) {
  TempDir t;
  write_file(t.path + "/p.yaml", "plugins:\n  - name: hello\n    path: " + plugin("hello") + "\n    greting: hi\n");
  std::string out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/p.yaml"}, &out), 1);
  EXPECT_NE(out.find(t.path + "/p.yaml:4:5: key 'plugins.hello.greting': unknown key (plugin hello accepts: greeting)"),
            std::string::npos)
      << out;
  write_file(t.path + "/q.yaml", "plugins:\n  - name: hello\n    path: " + plugin("hello") + "\n    greeting: [a, b]\n");
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/q.yaml"}, &out), 1);
  EXPECT_NE(out.find("q.yaml:4:15: key 'plugins.hello.greeting': expected a string"), std::string::npos) << out;
}

TEST(Config, BrokenPolicyScriptIsReportedByCheckConfig) {
  TempDir t;
  write_file(t.path + "/bad.lua", "function decide(r)\n  return 'allow'\nedn\n");
  write_file(t.path + "/c.yaml", "approval:\n  policies: [" + t.path + "/bad.lua]\n");
  std::string out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/c.yaml"}, &out), 1);
  EXPECT_NE(out.find(t.path + "/bad.lua:3:"), std::string::npos) << out;
}

TEST(PolicyCli, DryRunPrintsTheDecision) {
  std::string out;
  EXPECT_EQ(run_command({ccmux_bin(), "policy", "test", source_dir() + "/scripts/default.lua", "--tool", "Bash", "--input",
                         R"({"command":"rm -rf /"})"},
                        &out),
            0);
  EXPECT_NE(out.find("decision: deny"), std::string::npos) << out;
  EXPECT_NE(out.find("recursive delete"), std::string::npos) << out;
}

TEST(SdkOutOfTree, PluginBuiltAgainstTheInstalledSdkLoadsAndReceivesEvents) {
  const char* so = std::getenv("CCMUX_OOT_PLUGIN");
  if (!so) GTEST_SKIP() << "run through ctest (sdk_out_of_tree_load), after sdk_out_of_tree_build";
  TempDir t;
  FakeApi api;
  DaemonOptions o;
  o.extra_yaml = std::string("plugins:\n  - name: hello\n    required: true\n    path: ") + so + "\n    greeting: oot\n";
  Daemon d(t.path, api.base_url(), o);
  auto c = d.connect();
  std::string id = c->request("session.new", {{"cwd", d.project()}, {"prompt", "echo: out of tree"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_NE(d.log().find("oot: " + id + " #1 session_created"), std::string::npos) << d.log();
  EXPECT_NE(d.log().find("oot: " + id), std::string::npos);
}

// ---- Plugins that fail, stop or misuse the host: the daemon stays up and stops on time ----
// These use the scripted fake claude: what matters here is the host, not the model.
namespace {
std::string plugin_yaml(const std::string& name, const std::string& keys = "") {
  return "plugins:\n  - name: " + name + "\n    path: " + plugin(name) + "\n" + keys;
}

// No sanitizer report in the daemon's log (these tests run in the sanitizer build too).
void expect_sanitizer_clean(const Daemon& d) {
  std::string log = d.log();
  EXPECT_EQ(log.find("ERROR: AddressSanitizer"), std::string::npos) << log.substr(0, 20000);
  EXPECT_EQ(log.find("runtime error:"), std::string::npos) << log.substr(0, 20000);
}

bool wait_for_log(const Daemon& d, const std::string& text, int timeout_ms = 20000) {
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (d.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// SIGTERM, then ccmuxd's exit status if it exits within `seconds` (nullopt if it does not).
// The process is left for Daemon::terminate() to reap.
std::optional<int> exit_status_after_sigterm(const Daemon& d, double seconds) {
  kill(d.pid(), SIGTERM);
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    siginfo_t si{};
    if (waitid(P_PID, static_cast<id_t>(d.pid()), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == d.pid())
      return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}
}  // namespace

TEST(PluginTeardown, PlainCPluginThatSubscribesThenFailsStartLeavesNothingBehind) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("subscribe_then_fail");
  FakeDaemon f(o);
  auto c = f.d->connect(true);
  auto plugins = c->request("plugins.list")["plugins"];
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0]["state"], "failed");
  EXPECT_NE(plugins[0]["error"].get<std::string>().find("deliberately failing after subscribing"), std::string::npos);
  // Events go through the bus that held its sink and to every client and approval watcher it
  // had; the loop has run what its thread queued. None of it may reach the plugin any more.
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "hello"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 30000));
  EXPECT_EQ(c->request("ping")["pong"], true);
  auto status = exit_status_after_sigterm(*f.d, 20);
  ASSERT_TRUE(status.has_value()) << "ccmuxd still running 20 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  expect_sanitizer_clean(*f.d);
}

TEST(PluginAbi, SubscribeAndClientSendReturnTheErrorCodesTheHeaderPromises) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("return_codes");
  FakeDaemon f(o);
  const std::string want =
      ": subscribe unknown session=0, no callback=0, every session=an id; client_send unknown=-1, open=0, closed=-1";
  EXPECT_TRUE(wait_for_log(*f.d, "codes loop" + want)) << f.d->log();
  EXPECT_TRUE(wait_for_log(*f.d, "codes thread" + want)) << f.d->log();
  auto c = f.d->connect();
  EXPECT_EQ(c->request("plugins.list")["plugins"][0]["state"], "running");
  expect_sanitizer_clean(*f.d);
}

TEST(PluginShutdown, SigtermStopsTheDaemonWhileAPluginThreadWaitsForTheLoop) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("kv_spinner");
  FakeDaemon f(o);
  ASSERT_TRUE(wait_for_log(*f.d, "spinner: 100 kv_get calls done")) << f.d->log();
  // Its thread is (almost always) inside kv_get, waiting for the loop, when the loop exits.
  auto status = exit_status_after_sigterm(*f.d, 15);
  ASSERT_TRUE(status.has_value()) << "ccmuxd still running 15 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_NE(f.d->log().find("spinner: stopped"), std::string::npos) << f.d->log();
  expect_sanitizer_clean(*f.d);
}

TEST(PluginShutdown, APluginWhoseStopDoesNotReturnCannotHoldTheDaemon) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("kv_spinner", "    stop_delay_s: 3600\n");
  FakeDaemon f(o);
  ASSERT_TRUE(wait_for_log(*f.d, "spinner: 100 kv_get calls done")) << f.d->log();
  auto status = exit_status_after_sigterm(*f.d, 25);  // the plugins' 10 s, and slack for a slow machine
  ASSERT_TRUE(status.has_value()) << "ccmuxd still running 25 s after SIGTERM";
  EXPECT_EQ(*status, 1) << "a plugin that did not stop is a failed shutdown";
  EXPECT_NE(f.d->log().find("plugins did not stop within 10 s"), std::string::npos) << f.d->log();
}

TEST(PluginTeardown, ClientClosedFromInsideItsOwnReplayGetsNothingMore) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("close_in_callback");
  FakeDaemon f(o);
  auto c = f.d->connect();
  // The first turn's result makes the plugin replay the session into a client it closes at
  // the first event; the second turn's makes it report what reached the client after that.
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "one"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 30000));
  c->request("session.send", {{"session", id}, {"prompt", "two"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }, 30000));
  EXPECT_TRUE(wait_for_log(*f.d, "closer: closed during the replay; 0 message(s) after close")) << f.d->log();
  EXPECT_EQ(c->request("ping")["pong"], true);
  auto status = exit_status_after_sigterm(*f.d, 20);
  ASSERT_TRUE(status.has_value()) << "ccmuxd still running 20 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  expect_sanitizer_clean(*f.d);
}

// ---- SDK 1.4 ----

TEST(Config, CheckConfigValidatesAPluginsWholeSectionBeforeItStarts) {
  // transport-ws declares port as 1-65535: `port: 0` fails the check, not only the start.
  TempDir t;
  std::string entry = "plugins:\n  - name: transport-ws\n    search_dir: " + build_dir() + "/plugins\n";
  write_file(t.path + "/ws.yaml", entry + "    port: 0\n");
  std::string out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/ws.yaml"}, &out), 1);
  EXPECT_NE(out.find(t.path + "/ws.yaml:4:11: key 'plugins.transport-ws.port': must be from 1 to 65535, got 0"),
            std::string::npos)
      << out;
  write_file(t.path + "/tg.yaml", "plugins:\n  - name: telegram\n    search_dir: " + build_dir() + "/plugins\n    users: [\"1\"]\n");
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/tg.yaml"}, &out), 1);
  EXPECT_NE(out.find("tg.yaml:2:5: key 'plugins.telegram.chats': missing required key"), std::string::npos) << out;
  write_file(t.path + "/ap.yaml", "plugins:\n  - name: approval\n    search_dir: " + build_dir() + "/plugins\n    level: 4\n");
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/ap.yaml"}, &out), 1);
  EXPECT_NE(out.find("ap.yaml:4:12: key 'plugins.approval.level': must be from 0 to 3, got 4"), std::string::npos) << out;
  write_file(t.path + "/ok.yaml", entry + "    port: 8421\n");
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/ok.yaml"}, &out), 0) << out;
}

TEST(PluginExceptions, AnExceptionFromEachCallbackIsLoggedWithThePluginsNameAndTheDaemonStaysUp) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("thrower");
  FakeDaemon f(o);
  const std::string p = "plugin thrower: uncaught exception in ";
  EXPECT_TRUE(wait_for_log(*f.d, p + "posted task: boom from a posted task")) << f.d->log();
  EXPECT_TRUE(wait_for_log(*f.d, p + "timer (not a std::exception)")) << f.d->log();
  EXPECT_TRUE(wait_for_log(*f.d, p + "client message handler: boom from a client message")) << f.d->log();
  // An approval: the provider is asked (after the policies), then the channel hears of it.
  auto c = f.d->connect(true);
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "ask me"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("approval_requested", 20000));
  EXPECT_TRUE(wait_for_log(*f.d, p + "approval provider: boom from the provider")) << f.d->log();
  EXPECT_TRUE(wait_for_log(*f.d, p + "escalation channel: boom from the channel")) << f.d->log();
  EXPECT_TRUE(wait_for_log(*f.d, p + "event handler: boom from an event")) << f.d->log();
  c->request("approval.answer", {{"id", log.of_kind("approval_requested")[0]["payload"]["id"]}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_kind("result", 20000));
  c->request("token.create", {{"name", "gone-soon"}});
  c->request("token.revoke", {{"name", "gone-soon"}});
  EXPECT_TRUE(wait_for_log(*f.d, p + "token revocation handler: boom from a revocation")) << f.d->log();
  try {
    c->request("thrower.fail");
    FAIL() << "a method that threw answered ok";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "internal");
  }
  EXPECT_TRUE(wait_for_log(*f.d, p + "method handler: boom from a method")) << f.d->log();
  EXPECT_EQ(c->request("ping")["pong"], true);
  EXPECT_EQ(c->request("plugins.list")["plugins"][0]["state"], "running");
  auto status = exit_status_after_sigterm(*f.d, 20);
  ASSERT_TRUE(status.has_value()) << "ccmuxd still running 20 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_NE(f.d->log().find(p + "stop: boom from stop"), std::string::npos) << f.d->log();
  expect_sanitizer_clean(*f.d);
}

TEST(PluginShutdown, BlockingCallsFailFastOnceStoppingAndStopItselfStillReachesTheHost) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("stop_caller");
  FakeDaemon f(o);
  ASSERT_TRUE(wait_for_log(*f.d, "stop_caller: 50 kv_get calls served")) << f.d->log();
  ASSERT_TRUE(wait_for_log(*f.d, "stop_caller: timer ticked 3 times")) << f.d->log();
  auto t0 = std::chrono::steady_clock::now();
  auto status = exit_status_after_sigterm(*f.d, 15);
  ASSERT_TRUE(status.has_value()) << "ccmuxd still running 15 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(8));
  std::string log = f.d->log();
  // Its thread's kv_get, from SIGTERM on: CCMUX_ERR_STOPPING at once (no call waited 1 s).
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("thread refused (yes|no) with CCMUX_ERR_STOPPING, slowest (\\d+) ms, other errors (\\d+)")))
      << log;
  EXPECT_EQ(m[1], "yes");
  EXPECT_LT(std::stoi(m[2]), 1000);
  EXPECT_EQ(m[3], "0");
  // stop() runs on the loop thread while the loop still runs: its own call is served.
  EXPECT_NE(log.find("stop_caller: kv_set from stop() -> 0"), std::string::npos) << log;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((f.dir.path + "/state/ccmux.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT value FROM plugin_kv WHERE plugin='stop_caller' AND key='saved_in_stop'", -1, &st, nullptr);
  EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
  sqlite3_finalize(st);
  sqlite3_close(db);
  expect_sanitizer_clean(*f.d);
}

TEST(PluginAbi, APluginBuiltAgainstTheSdk13HeaderStillLoadsAndGetsWhat13Promised) {
  DaemonOptions o;
  o.extra_yaml = plugin_yaml("v13", "    greeting: hi\n    count: 3\n");
  FakeDaemon f(o);
  auto c = f.d->connect();
  auto plugins = c->request("plugins.list")["plugins"];
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0]["state"], "running");
  EXPECT_EQ(plugins[0]["sdk"], "1.3");
  // Its 1.0-style keys are checked by the same validator; no defaults are added.
  EXPECT_TRUE(wait_for_log(*f.d, R"(v13: sdk 1.3 plugin got config {"count":3,"greeting":"hi"})")) << f.d->log();
  auto status = exit_status_after_sigterm(*f.d, 15);
  ASSERT_TRUE(status.has_value()) << "ccmuxd still running 15 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  // Its header promised 0 or -1: a refused call during shutdown is -1, never -2.
  EXPECT_NE(f.d->log().find("v13: refused with -1: yes, with another code: 0, served: yes"), std::string::npos) << f.d->log();
  TempDir t;
  write_file(t.path + "/v.yaml", plugin_yaml("v13", "    count: many\n"));
  std::string out;
  EXPECT_EQ(run_command({ccmuxd_bin(), "--check-config", t.path + "/v.yaml"}, &out), 1);
  EXPECT_NE(out.find("v.yaml:4:12: key 'plugins.v13.count': expected an integer, got 'many'"), std::string::npos) << out;
}
