// transport-ws pieces that need no socket: the login rate limiter, the connection caps, the
// receive budget, the static_root check, the /metrics text and the plugin's config checks.
#include "auth_limiter.h"
#include "conn_limits.h"
#include "metrics.h"
#include "root_path.h"
#include "rx_budget.h"
#include "ws_config.h"

#include "plugins/plugin_schema.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace ccmux::ws;
using Clock = AuthLimiter::Clock;

namespace {
// The plugin's config as ccmuxd hands it over: the entry (YAML; JSON is YAML too) checked
// against the keys transport-ws declares, defaults filled in, then read by the plugin.
WsConfig configured(const std::string& entry, const std::string& default_static_root) {
  ccmux_plugin_descriptor d{};
  d.struct_size = sizeof d;
  d.config_specs = kConfigKeys;
  d.config_spec_count = kConfigKeyCount;
  auto values = ccmux::validate_section(ccmux::plugin_schema("transport-ws", d), YAML::Load(entry), "test.yaml");
  return parse_config(values.dump(), default_static_root);
}
}  // namespace
using std::chrono::seconds;

TEST(AuthLimiter, RefusesAnAddressAfterMaxFailuresUntilTheWindowPasses) {
  AuthLimiter l(3, seconds(60));
  auto t = Clock::now();
  EXPECT_EQ(l.retry_after_s("1.2.3.4", t), 0);
  l.record_failure("1.2.3.4", t);
  l.record_failure("1.2.3.4", t + seconds(10));
  EXPECT_EQ(l.retry_after_s("1.2.3.4", t + seconds(10)), 0);
  EXPECT_EQ(l.record_failure("1.2.3.4", t + seconds(20)), 3);
  EXPECT_EQ(l.retry_after_s("1.2.3.4", t + seconds(20)), 40);  // the first failure leaves at t+60
  EXPECT_EQ(l.retry_after_s("5.6.7.8", t + seconds(20)), 0);   // other addresses are not affected
  EXPECT_EQ(l.retry_after_s("1.2.3.4", t + seconds(60)), 0);   // one failure left the window
  EXPECT_EQ(l.retry_after_s("1.2.3.4", t + seconds(200)), 0);
  EXPECT_EQ(l.tracked_addresses(), 0u);  // forgotten once nothing is in the window
}

TEST(AuthLimiter, SuccessClearsAndMemoryPerAddressIsBounded) {
  AuthLimiter l(2, seconds(60));
  auto t = Clock::now();
  for (int i = 0; i < 1000; ++i) l.record_failure("9.9.9.9", t);
  EXPECT_GT(l.retry_after_s("9.9.9.9", t), 0);
  l.record_success("9.9.9.9");
  EXPECT_EQ(l.retry_after_s("9.9.9.9", t), 0);
}

TEST(Metrics, PrometheusTextHasEveryStateAndTheTransportCounters) {
  nlohmann::json status = {{"sessions", {{"idle", 2}, {"parked", 5}}},
                           {"live_processes", 2},
                           {"pending_approvals", 1},
                           {"approvals", {{"allow", 7}, {"deny", 1}}},
                           {"events", 1234},
                           {"clients", 3},
                           {"cost_usd", 0.25},
                           {"input_tokens", 100},
                           {"output_tokens", 50},
                           {"uptime_s", 60},
                           {"turns", 4},
                           {"claude_rss_bytes", 300000000},
                           {"economy", {{"max_live", 8}, {"waiting_for_slot", 1}, {"warm_pool", {{"processes", {{{"pid", 7}}}}}}}}};
  TransportCounters t;
  t.connections = 3;
  t.authenticated = 2;
  t.auth_failures = 4;
  std::string text = prometheus_text(status, t);
  for (const char* line : {"ccmux_sessions{state=\"idle\"} 2\n", "ccmux_sessions{state=\"running\"} 0\n",
                           "ccmux_sessions{state=\"parked\"} 5\n", "ccmux_approvals_total{outcome=\"allow\"} 7\n",
                           "ccmux_approvals_total{outcome=\"cancelled\"} 0\n", "ccmux_events_total 1234\n",
                           "ccmux_cost_usd_total 0.25\n", "ccmux_tokens_total{direction=\"output\"} 50\n",
                           "ccmux_ws_connections{auth=\"yes\"} 2\n", "ccmux_ws_connections{auth=\"no\"} 1\n",
                           "ccmux_ws_auth_failures_total 4\n", "ccmux_turns_total 4\n", "ccmux_claude_rss_bytes 300000000\n", "# TYPE ccmux_approvals_total counter\n",
                           "ccmux_sessions{state=\"restarting\"} 0\n", "ccmux_max_live 8\n", "ccmux_waiting_for_slot 1\n",
                           "ccmux_warm_processes 1\n", "ccmux_ws_refused_total 0\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

TEST(WsConfig, DefaultsAndRangeChecks) {
  auto c = configured("{}", "/srv/web");
  EXPECT_EQ(c.listen, "127.0.0.1");  // not reachable from the network unless asked
  EXPECT_EQ(c.port, 8420);
  EXPECT_EQ(c.static_root, "/srv/web");
  EXPECT_FALSE(c.metrics_public);
  EXPECT_THROW(configured(R"({"tls_cert":"/a.crt"})", "/srv/web"), std::runtime_error);
  EXPECT_THROW(configured(R"({"port":70000})", "/srv/web"), std::runtime_error);
  EXPECT_THROW(configured(R"({"max_message_bytes":0})", "/srv/web"), std::runtime_error);
  auto t = configured(R"({"tls_cert":"/a.crt","tls_key":"/a.key","allowed_origins":["https://x"]})", "/w");
  EXPECT_EQ(t.allowed_origins.size(), 1u);
  EXPECT_EQ(c.max_connections, 256u);
  EXPECT_EQ(c.max_connections_per_address, 32u);
  auto m = configured(R"({"max_connections":1000,"max_connections_per_address":100})", "/w");
  EXPECT_EQ(m.max_connections, 1000u);
  EXPECT_EQ(m.max_connections_per_address, 100u);
  for (const char* bad : {R"({"max_connections":0})", R"({"max_connections":-5})", R"({"max_connections":100001})",
                          R"({"max_connections_per_address":0})"})
    EXPECT_THROW(configured(bad, "/w"), std::runtime_error) << bad;
}

TEST(ConnectionLimits, PerAddressThenTotalAndClosingFreesASlot) {
  ConnectionLimits l(3, 2);
  EXPECT_FALSE(l.refusal("10.0.0.1"));
  l.opened("10.0.0.1");
  l.opened("10.0.0.1");
  auto per = l.refusal("10.0.0.1");
  ASSERT_TRUE(per);
  EXPECT_NE(per->find("max_connections_per_address"), std::string::npos) << *per;
  EXPECT_FALSE(l.refusal("10.0.0.2"));  // another address still may
  l.opened("10.0.0.2");
  auto total = l.refusal("10.0.0.3");
  ASSERT_TRUE(total);
  EXPECT_NE(total->find("(max_connections)"), std::string::npos) << *total;
  l.closed("10.0.0.1");
  EXPECT_FALSE(l.refusal("10.0.0.3"));
  EXPECT_FALSE(l.refusal("10.0.0.1"));
  EXPECT_EQ(l.open_total(), 2u);
  l.closed("10.0.0.1");
  l.closed("10.0.0.2");
  l.closed("10.0.0.9");  // never counted: no effect
  EXPECT_EQ(l.open_total(), 0u);
  EXPECT_EQ(l.tracked_addresses(), 0u);  // forgotten once nothing is open
}

TEST(RxBudget, AFewKiBBeforeLoginThenMaxMessageBytes) {
  EXPECT_EQ(message_limit(false, 16u << 20), kPreAuthMessageBytes);
  EXPECT_LE(kPreAuthMessageBytes, 8192u);  // "a few KiB": an auth message is ~80 bytes
  EXPECT_EQ(message_limit(false, 1000), 1000u);  // never more than the configured limit
  EXPECT_EQ(message_limit(true, 16u << 20), 16u << 20);
}

TEST(RxBudget, ReadingPausesAfterTheFirstMessageBeforeLoginAndAtTheLimitAfter) {
  const size_t max = 65536;
  EXPECT_FALSE(rx_should_pause(false, false, 100, 0, max));  // still receiving the auth message
  EXPECT_TRUE(rx_should_pause(false, true, 0, 0, max));      // it went to the daemon: wait for the verdict
  EXPECT_TRUE(rx_should_pause(false, true, 0, 80, max));
  EXPECT_FALSE(rx_should_pause(true, true, 0, 80, max));     // logged in: read on
  EXPECT_FALSE(rx_should_pause(true, false, 60000, 0, max)); // one message alone: the message limit applies
  EXPECT_FALSE(rx_should_pause(true, false, 30000, 30000, max));
  EXPECT_TRUE(rx_should_pause(true, false, 30000, 40000, max));  // waiting + assembling reach the limit
  EXPECT_TRUE(rx_should_pause(true, false, 0, max, max));
}

TEST(RootPath, InsideMeansBelowTheResolvedRootNotAPrefixOfItsName) {
  EXPECT_TRUE(path_inside("/srv/web", "/srv/web"));
  EXPECT_TRUE(path_inside("/srv/web", "/srv/web/a/b.js"));
  EXPECT_FALSE(path_inside("/srv/web", "/srv/web2/a.js"));
  EXPECT_FALSE(path_inside("/srv/web", "/srv"));
  EXPECT_FALSE(path_inside("/srv/web", "/etc/passwd"));
  EXPECT_FALSE(path_inside("", "/etc/passwd"));
  EXPECT_TRUE(path_inside("/", "/etc/passwd"));
}

TEST(RootPath, AnOpenFileIsJudgedByWhereItReallyIs) {
  char tmpl[] = "/tmp/ccmux-root-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string base = tmpl;
  namespace fs = std::filesystem;
  fs::create_directories(base + "/www/sub");
  fs::create_directories(base + "/secret");
  std::ofstream(base + "/www/sub/in.txt") << "in";
  std::ofstream(base + "/secret/s.txt") << "s";
  fs::create_symlink(base + "/secret/s.txt", base + "/www/out.txt");
  fs::create_directory_symlink(base + "/secret", base + "/www/outdir");
  fs::create_symlink("sub/in.txt", base + "/www/in-link.txt");
  fs::create_directory_symlink(base + "/www", base + "/www-link");  // the root itself may be a link
  std::string root = canonical_root(base + "/www-link/");
  EXPECT_EQ(root, canonical_root(base + "/www"));
  auto inside = [&](const std::string& rel) {
    int fd = ::open((base + "/www-link/" + rel).c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << rel;
    bool r = fd_inside(fd, root);
    ::close(fd);
    return r;
  };
  EXPECT_TRUE(inside("sub/in.txt"));
  EXPECT_TRUE(inside("in-link.txt"));
  EXPECT_TRUE(inside("sub"));
  EXPECT_FALSE(inside("out.txt"));
  EXPECT_FALSE(inside("outdir/s.txt"));
  EXPECT_FALSE(inside("outdir"));
  EXPECT_FALSE(fd_inside(-1, root));  // unknown: refused
  fs::remove_all(base);
}
