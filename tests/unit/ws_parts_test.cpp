// transport-ws pieces that need no socket: the login rate limiter, the /metrics text and
// the plugin's config checks.
#include "auth_limiter.h"
#include "metrics.h"
#include "ws_config.h"

#include <gtest/gtest.h>

using namespace ccmux::ws;
using Clock = AuthLimiter::Clock;
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
                           "ccmux_warm_processes 1\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

TEST(WsConfig, DefaultsAndRangeChecks) {
  auto c = parse_config("{}", "/srv/web");
  EXPECT_EQ(c.listen, "127.0.0.1");  // not reachable from the network unless asked
  EXPECT_EQ(c.port, 8420);
  EXPECT_EQ(c.static_root, "/srv/web");
  EXPECT_FALSE(c.metrics_public);
  EXPECT_THROW(parse_config(R"({"tls_cert":"/a.crt"})", "/srv/web"), std::runtime_error);
  EXPECT_THROW(parse_config(R"({"port":70000})", "/srv/web"), std::runtime_error);
  EXPECT_THROW(parse_config(R"({"max_message_bytes":0})", "/srv/web"), std::runtime_error);
  auto t = parse_config(R"({"tls_cert":"/a.crt","tls_key":"/a.key","allowed_origins":["https://x"]})", "/w");
  EXPECT_EQ(t.allowed_origins.size(), 1u);
}
