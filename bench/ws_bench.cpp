// transport-ws figures (issue 3), each beside a baseline measured in the same run:
//   fan-out: one firehose session -> 100 WebSocket clients, deliveries/s, vs a raw
//            libwebsockets server writing the same number of same-size frames;
//   latency: claude stdout -> WebSocket client at 10k events/s (1 and 100 clients), vs a
//            raw libwebsockets echo round trip;
//   replay:  100k stored events to one WebSocket client from seq 1, vs the local socket.
// Prints figures; never fails on a time. Usage: ccmux_ws_bench [--events N] [--clients C]
#include "bench_daemon.h"
#include "bench_support.h"
#include "harness.h"
#include "ws_client.h"
#include "ws_swarm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
using namespace ccmux::bench;

namespace {

// A ccmuxd with transport-ws whose "claude" is the firehose in `mode`.
struct WsDaemon : BenchDaemon {
  explicit WsDaemon(const std::vector<std::pair<std::string, std::string>>& env) : BenchDaemon(options(env)) {}
  static BenchDaemonOptions options(const std::vector<std::pair<std::string, std::string>>& env) {
    BenchDaemonOptions o;
    o.firehose_env = env;
    return o;
  }
  std::vector<std::string> opening(uint64_t from_seq) const { return ws_opening(from_seq); }
};

long peak_rss_kb(pid_t pid) { return proc_status_kb(pid, "VmHWM"); }  // the most the daemon held at once

bool is_event(std::string_view m) { return m.find("\"kind\":\"stream_event\"") != std::string::npos; }
bool is_subscribed(std::string_view m) { return m.find("\"head\"") != std::string::npos && m.find("\"response\"") != std::string::npos; }

// ---- fan-out ----
void bench_fanout(long events, int clients) {
  // Ours: the firehose writes `events` lines; each client gets every one.
  WsDaemon wd({{"FIREHOSE_MODE", "stream"}, {"FIREHOSE_EVENTS", std::to_string(events)}});
  uint64_t start = wd.head() + 1;
  std::atomic<long> delivered{0}, subscribed{0};
  std::atomic<size_t> msg_size{0};
  WsSwarm ours(wd.port, clients, wd.opening(start), [&](int, std::string_view m) {
    if (is_event(m)) {
      ++delivered;
      msg_size = m.size();
    } else if (is_subscribed(m)) {
      ++subscribed;
    }
  });
  wait_until([&] { return subscribed.load() == clients; }, 30);
  auto t0 = Clock::now();
  wd.local->request("session.send", {{"session", wd.session}, {"prompt", "go"}});
  const long want = events * clients;
  wait_until([&] { return delivered.load() >= want; }, 300);
  double el = secs(t0, Clock::now());
  double ours_rate = static_cast<double>(delivered.load()) / el;

  // Raw libwebsockets: the same number of frames of the same size, written by a bare server.
  RawLwsServer raw;
  std::atomic<long> raw_got{0};
  WsSwarm rs(raw.port(), clients, {}, [&](int, std::string_view) { ++raw_got; });
  rs.wait_connected(30000);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t1 = Clock::now();
  rs.send(0, "go " + std::to_string(events) + " " + std::to_string(msg_size.load()));
  wait_until([&] { return raw_got.load() >= want; }, 300);
  double raw_el = secs(t1, Clock::now());
  double raw_rate = static_cast<double>(raw_got.load()) / raw_el;
  printf("fanout %ld events x %d WebSocket clients (%zu-byte messages): ccmuxd %.0f deliveries/s (%.2f s, %ld/%ld, "
         "ccmuxd peak RSS %.0f MB) | raw libwebsockets server, same frames: %.0f/s (ours = %.2fx)\n",
         events, clients, msg_size.load(), ours_rate, el, delivered.load(), want, peak_rss_kb(wd.d->pid()) / 1024.0,
         raw_rate, ours_rate / raw_rate);
}

// ---- latency ----
void bench_latency(long events, long rate, const std::vector<int>& client_counts) {
  // Raw echo: one client, one message in flight, round trip.
  {
    RawLwsServer raw;
    std::vector<int64_t> rtt;
    std::atomic<bool> done{false};
    WsSwarm* self = nullptr;
    WsSwarm echo(raw.port(), 1, {}, [&](int, std::string_view m) {
      rtt.push_back(now_ns() - std::stoll(std::string(m.substr(5))));
      if (rtt.size() >= 20000) done = true;
      else self->send(0, "ping " + std::to_string(now_ns()));
    });
    self = &echo;
    echo.wait_connected(10000);
    echo.send(0, "ping " + std::to_string(now_ns()));
    wait_until([&] { return done.load(); }, 120);
    printf("raw libwebsockets echo round trip (20000, one in flight): p50 %.0f us, p99 %.0f us\n", percentile(rtt, 0.5) / 1e3,
           percentile(rtt, 0.99) / 1e3);
  }
  // The same stream to one local-socket client: what the core alone costs on this path.
  {
    WsDaemon wd({{"FIREHOSE_MODE", "paced"}, {"FIREHOSE_EVENTS", std::to_string(events)}, {"FIREHOSE_RATE", std::to_string(rate)}});
    auto c = wd.d->connect();
    c->request("subscribe", {{"session", wd.session}, {"from_seq", wd.head() + 1}});
    std::vector<int64_t> lat;
    wd.local->request("session.send", {{"session", wd.session}, {"prompt", "go"}});
    while (static_cast<long>(lat.size()) < events) {
      auto line = c->next_raw(10000);
      if (!line) break;
      int64_t now = now_ns();
      auto at = line->find("token ");
      if (line->find("\"kind\":\"stream_event\"") == std::string::npos || at == std::string::npos) continue;
      lat.push_back(now - std::strtoll(line->c_str() + at + 6, nullptr, 10));
    }
    printf("latency claude stdout -> local-socket client at %ld events/s, 1 client, %ld events: p50 %.0f us, p99 %.0f us, "
           "max %.1f ms\n",
           rate, events, percentile(lat, 0.5) / 1e3, percentile(lat, 0.99) / 1e3, percentile(lat, 1.0) / 1e6);
  }
  for (int clients : client_counts) {
    WsDaemon wd({{"FIREHOSE_MODE", "paced"}, {"FIREHOSE_EVENTS", std::to_string(events)}, {"FIREHOSE_RATE", std::to_string(rate)}});
    uint64_t start = wd.head() + 1;
    std::mutex mu;
    std::vector<int64_t> lat;
    lat.reserve(static_cast<size_t>(events * clients));
    std::atomic<long> got{0}, subscribed{0};
    WsSwarm sw(wd.port, clients, wd.opening(start), [&](int, std::string_view m) {
      if (is_subscribed(m)) ++subscribed;
      if (!is_event(m)) return;
      int64_t now = now_ns();
      auto at = m.find("token ");
      if (at == std::string::npos) return;
      int64_t t = std::strtoll(std::string(m.substr(at + 6, 24)).c_str(), nullptr, 10);
      std::lock_guard lock(mu);
      lat.push_back(now - t);
      ++got;
    });
    wait_until([&] { return subscribed.load() == clients; }, 30);
    wd.local->request("session.send", {{"session", wd.session}, {"prompt", "go"}});
    wait_until([&] { return got.load() >= events * clients; }, 120);
    std::lock_guard lock(mu);
    printf("latency claude stdout -> WebSocket client at %ld events/s, %d client(s), %ld events: p50 %.0f us, p99 %.0f us, "
           "max %.1f ms (%ld received)\n",
           rate, clients, events, percentile(lat, 0.5) / 1e3, percentile(lat, 0.99) / 1e3, percentile(lat, 1.0) / 1e6, got.load());
  }
}

// ---- replay ----
void bench_replay(long events) {
  WsDaemon wd({{"FIREHOSE_MODE", "stream"}, {"FIREHOSE_EVENTS", std::to_string(events)}});
  wd.local->request("session.send", {{"session", wd.session}, {"prompt", "go"}});
  wait_until([&] { return wd.local->request("session.get", {{"session", wd.session}})["turns"] == 1; }, 300);
  uint64_t head = wd.head();
  std::vector<double> ws_runs, local_runs;
  for (int run = 0; run < 3; ++run) {
    std::atomic<uint64_t> got{0};
    auto t0 = Clock::now();
    WsSwarm one(wd.port, 1, wd.opening(1), [&](int, std::string_view m) {
      if (m.find("\"type\":\"event\"") != std::string::npos) ++got;
    });
    wait_until([&] { return got.load() >= head; }, 120);
    ws_runs.push_back(secs(t0, Clock::now()));
    auto r = wd.d->connect();
    auto t1 = Clock::now();
    r->request("subscribe", {{"session", wd.session}, {"from_seq", 1}});
    uint64_t n = 0;
    while (n < head && r->next_raw(10000)) ++n;
    local_runs.push_back(secs(t1, Clock::now()));
  }
  printf("replay %llu stored events from seq 1 to one WebSocket client (connect + auth + subscribe + all events, median "
         "of 3): %.0f ms | local socket, same events: %.0f ms\n",
         static_cast<unsigned long long>(head), percentile(ws_runs, 0.5) * 1000, percentile(local_runs, 0.5) * 1000);
}

}  // namespace

int main(int argc, char** argv) {
  long events = 50000;
  int clients = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--events")) events = std::atol(argv[i + 1]);
    if (!strcmp(argv[i], "--clients")) clients = std::atoi(argv[i + 1]);
  }
  printf("ccmux transport-ws bench (%u cores; clients, daemon and baselines share them)\n",
         std::thread::hardware_concurrency());
  bench_fanout(events, clients);
  bench_latency(20000, 10000, {1, 10, clients});
  bench_replay(100000);
  return 0;
}
