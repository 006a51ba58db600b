// Soak run (issue 10): many WebSocket clients on many sessions for a long time, with
// reconnects and approvals answered by the clients. Reports what a long-lived daemon must
// not do: grow (RSS after warm-up), lose or repeat events (per session, by seq, across
// reconnects), leak descriptors (open fds at the end vs the start). Not a CI test (long).
//
//   ccmux_soak [--minutes 10 | --seconds S] [--clients 100] [--sessions 50] [--warmup S]
//              [--rate 20] [--events-per-turn 200] [--approval-every 100]
//              [--reconnect-min 15] [--reconnect-max 45]
//
// Each session's claude is bench/soak_claude (SOAK_RATE lines/s, a can_use_tool every
// SOAK_APPROVAL_EVERY lines); a policy that always says "ask" leaves every tool call to the
// clients, both clients of a session answer (the first wins, the other hears
// already_resolved). A local-socket driver sends the next prompt when a turn ends. Each
// client reconnects at a random interval and subscribes from its last seq + 1.
// Exit status 1 when events were lost or repeated, the daemon died, or a client could not
// reconnect; RSS and fds are reported against their goals (<= 5 %, equal).
#include "bench_support.h"
#include "harness.h"
#include "ws_client.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
using namespace ccmux::bench;

namespace {

struct Options {
  double seconds = 600, warmup = 60;
  int clients = 100, sessions = 50;
  int rate = 20, events_per_turn = 200, approval_every = 100;
  double reconnect_min = 15, reconnect_max = 45;
};

struct ClientStats {
  uint64_t last_seq = 0;
  long events = 0, dropped = 0, duplicated = 0, reconnects = 0, server_closes = 0;
  long answered = 0, already_resolved = 0, answer_errors = 0, connect_failures = 0;
};

// Alive and not a zombie (the daemon is our child: kill(pid, 0) succeeds on a zombie).
bool running(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
}

int count_fds(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

class Soak {
 public:
  Soak(Options o) : o_(o) {}
  int run();

 private:
  void client_loop(int idx);
  void driver_loop();
  bool connect_client(std::unique_ptr<WsClient>& c, int idx, ClientStats& st);

  Options o_;
  TempDir t_;
  int port_ = free_tcp_port();
  std::unique_ptr<Daemon> d_;
  std::string token_;
  std::vector<std::string> sessions_;
  std::vector<ClientStats> stats_;
  std::atomic<bool> stop_clients_{false}, stop_prompts_{false};
  std::atomic<long> turns_{0};
};

bool Soak::connect_client(std::unique_ptr<WsClient>& c, int idx, ClientStats& st) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    try {
      c = std::make_unique<WsClient>(port_);
      if (!c->login(token_)) throw std::runtime_error("login refused");
      c->send_json({{"type", "request"}, {"id", "sub"}, {"method", "subscribe"},
                    {"params", {{"session", sessions_[static_cast<size_t>(idx % o_.sessions)]}, {"from_seq", st.last_seq + 1}}}});
      return true;
    } catch (const std::exception&) {
      ++st.connect_failures;
      c.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  return false;
}

void Soak::client_loop(int idx) {
  ClientStats& st = stats_[static_cast<size_t>(idx)];
  const std::string& session = sessions_[static_cast<size_t>(idx % o_.sessions)];
  std::mt19937 rng(static_cast<unsigned>(idx) * 7919u + 17u);
  std::uniform_real_distribution<double> every(o_.reconnect_min, o_.reconnect_max);
  std::unique_ptr<WsClient> c;
  if (!connect_client(c, idx, st)) return;
  auto reconnect_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(every(rng)));
  long next_id = 1;
  while (!stop_clients_.load()) {
    if (Clock::now() >= reconnect_at || c->closed()) {
      if (c->closed()) ++st.server_closes;
      c.reset();  // drops the socket without a close frame half the time a phone does
      ++st.reconnects;
      if (!connect_client(c, idx, st)) return;
      reconnect_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(every(rng)));
    }
    std::optional<std::string> raw;
    try {
      raw = c->recv(100);
    } catch (const std::exception&) {
      continue;
    }
    if (!raw) continue;
    json m = json::parse(*raw, nullptr, false);
    if (!m.is_object()) continue;
    std::string type = m.value("type", "");
    if (type == "event" && m.value("session", "") == session) {
      uint64_t seq = m.value("seq", uint64_t{0});
      ++st.events;
      if (seq <= st.last_seq) {
        ++st.duplicated;
        continue;
      }
      if (seq != st.last_seq + 1) st.dropped += static_cast<long>(seq - st.last_seq - 1);
      st.last_seq = seq;
      if (m.value("kind", "") == "approval_requested" && m["payload"].is_object()) {
        std::string id = m["payload"].value("id", "");
        try {
          c->send_json({{"type", "request"}, {"id", next_id++}, {"method", "approval.answer"},
                        {"params", {{"id", id}, {"decision", "allow"}, {"by", "soak-" + std::to_string(idx)}}}});
        } catch (const std::exception&) {
        }
      }
    } else if (type == "response" && m["id"].is_number()) {
      if (m.contains("error")) ++st.answer_errors;
      else if (m["result"].value("status", "") == "already_resolved") ++st.already_resolved;
      else ++st.answered;
    }
  }
}

// Sends the next prompt whenever a turn ends, so every session streams for the whole run.
void Soak::driver_loop() {
  Client c(d_->socket());
  c.request("subscribe", {{"session", "*"}, {"from_seq", 1}});
  while (!stop_prompts_.load()) {
    auto m = c.next(200);
    if (!m || m->value("type", "") != "event" || m->value("kind", "") != "result") continue;
    ++turns_;
    c.request("session.send", {{"session", m->value("session", "")}, {"prompt", "go on"}});
  }
}

int Soak::run() {
  std::printf("soak: %d WebSocket clients on %d sessions for %.0f s (warm-up %.0f s), %d events/s per session, "
              "a tool call every %d events, reconnects every %.0f-%.0f s\n",
              o_.clients, o_.sessions, o_.seconds, o_.warmup, o_.rate, o_.approval_every, o_.reconnect_min,
              o_.reconnect_max);
  std::string policy = t_.path + "/ask.lua";
  write_file(policy, "function decide(r) return 'ask' end\n");
  DaemonOptions dopt;
  dopt.log_level = "warn";
  dopt.claude_path = build_dir() + "/bench/soak_claude";
  dopt.policies = {policy};
  dopt.claude_env = {{"SOAK_RATE", std::to_string(o_.rate)},
                     {"SOAK_EVENTS", std::to_string(o_.events_per_turn)},
                     {"SOAK_APPROVAL_EVERY", std::to_string(o_.approval_every)}};
  dopt.claude_keys = {"park_after: 0", "max_live: " + std::to_string(o_.sessions + 10)};
  dopt.extra_yaml = "plugins:\n  - name: transport-ws\n    search_dir: " + build_dir() +
                    "/plugins\n    required: true\n    port: " + std::to_string(port_) +
                    "\n    auth_max_failures: 1000000\n"
                    // Every client connects from 127.0.0.1: the per-address cap (32) would refuse most.
                    "    max_connections_per_address: " + std::to_string(o_.clients + 16) +
                    "\n    max_connections: " + std::to_string(std::max(256, 2 * o_.clients)) + "\n";
  d_ = std::make_unique<Daemon>(t_.path + "/d", "http://127.0.0.1:9", dopt);
  pid_t pid = d_->pid();
  auto local = d_->connect();
  token_ = local->request("token.create", {{"name", "soak"}})["token"];
  int fds_empty = count_fds(pid);
  long rss_empty = proc_status_kb(pid, "VmRSS");
  for (int i = 0; i < o_.sessions; ++i)
    sessions_.push_back(local->request("session.new", {{"cwd", d_->project()}})["id"]);
  for (auto& s : sessions_) wait_for_state(*local, s, "idle", 120);

  stats_.resize(static_cast<size_t>(o_.clients));
  std::vector<std::thread> threads;
  for (int i = 0; i < o_.clients; ++i) threads.emplace_back([this, i] { client_loop(i); });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // subscribed before the first turn
  std::thread driver([this] { driver_loop(); });
  for (auto& s : sessions_) local->request("session.send", {{"session", s}, {"prompt", "go"}});

  auto t0 = Clock::now();
  std::vector<std::pair<double, long>> rss;  // (s since start, kB)
  long rss_warm = -1;
  int fds_warm = -1;
  while (secs(t0, Clock::now()) < o_.seconds) {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    if (!running(pid)) break;
    double at = secs(t0, Clock::now());
    rss.emplace_back(at, proc_status_kb(pid, "VmRSS"));
    if (rss_warm < 0 && at >= o_.warmup) {
      rss_warm = rss.back().second;
      fds_warm = count_fds(pid);
    }
    if (static_cast<int>(at) % 60 < 5)
      std::printf("  %4.0f s: RSS %ld kB, %d fds, %ld turns\n", at, rss.back().second, count_fds(pid), turns_.load());
    std::fflush(stdout);
  }
  bool alive = running(pid);
  long rss_end = alive ? proc_status_kb(pid, "VmRSS") : -1;
  long rss_peak = alive ? proc_status_kb(pid, "VmHWM") : -1;
  int fds_end = alive ? count_fds(pid) : -1;

  // Quiesce: no new prompts, let the running turns end (their tool calls still get answers).
  stop_prompts_ = true;
  driver.join();
  bool quiet = false;
  for (int i = 0; i < 120 && alive && !quiet; ++i) {
    quiet = true;
    for (auto& s : sessions_)
      if (local->request("session.get", {{"session", s}})["state"] != "idle") quiet = false;
    if (!quiet) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the clients read the tail
  stop_clients_ = true;
  for (auto& th : threads) th.join();

  // Every client must have every event of its session: seq 1..head, none twice.
  long events = 0, dropped = 0, duplicated = 0, reconnects = 0, closes = 0, answered = 0, already = 0, errors = 0,
       failures = 0, behind = 0;
  for (size_t i = 0; i < stats_.size(); ++i) {
    auto& st = stats_[i];
    uint64_t head = alive ? local->request("session.get", {{"session", sessions_[i % sessions_.size()]}})["last_seq"].get<uint64_t>() : 0;
    if (st.last_seq < head) behind += static_cast<long>(head - st.last_seq);
    events += st.events;
    dropped += st.dropped;
    duplicated += st.duplicated;
    reconnects += st.reconnects;
    closes += st.server_closes;
    answered += st.answered;
    already += st.already_resolved;
    errors += st.answer_errors;
    failures += st.connect_failures;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  int fds_after = alive ? count_fds(pid) : -1;
  long pending = alive ? static_cast<long>(local->request("approvals.list")["approvals"].size()) : -1;

  double growth = rss_warm > 0 ? 100.0 * static_cast<double>(rss_end - rss_warm) / static_cast<double>(rss_warm) : 0;
  std::printf("\nresults (%s)\n", alive ? "daemon alive" : "DAEMON DIED");
  std::printf("  turns %ld, events delivered to clients %ld, reconnects %ld (%ld closed by the server), connect failures %ld\n",
              turns_.load(), events, reconnects, closes, failures);
  std::printf("  events dropped %ld, duplicated %ld, missing at the end (client behind its session's head) %ld   goal: 0, 0, 0\n",
              dropped, duplicated, behind);
  std::printf("  approvals answered %ld, already_resolved %ld, answer errors %ld, still pending %ld\n", answered, already,
              errors, pending);
  std::printf("  RSS: empty daemon %ld kB, after warm-up (%.0f s) %ld kB, end %ld kB (%+.1f %%, goal <= 5 %%), peak %ld kB\n",
              rss_empty, o_.warmup, rss_warm, rss_end, growth, rss_peak);
  std::printf("  fds: empty daemon %d, after warm-up %d, end %d (goal: = after warm-up), clients gone %d\n", fds_empty,
              fds_warm, fds_end, fds_after);
  bool ok = alive && dropped == 0 && duplicated == 0 && behind == 0;
  std::printf("%s\n", ok ? "soak: no event lost or repeated" : "soak: FAILED (see above)");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    double v = std::atof(argv[i + 1]);
    if (k == "--minutes") o.seconds = v * 60;
    else if (k == "--seconds") o.seconds = v;
    else if (k == "--warmup") o.warmup = v;
    else if (k == "--clients") o.clients = static_cast<int>(v);
    else if (k == "--sessions") o.sessions = static_cast<int>(v);
    else if (k == "--rate") o.rate = static_cast<int>(v);
    else if (k == "--events-per-turn") o.events_per_turn = static_cast<int>(v);
    else if (k == "--approval-every") o.approval_every = static_cast<int>(v);
    else if (k == "--reconnect-min") o.reconnect_min = v;
    else if (k == "--reconnect-max") o.reconnect_max = v;
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of bench/soak.cpp)\n", k.c_str());
      return 64;
    }
  }
  if (o.warmup >= o.seconds) o.warmup = o.seconds / 5;
  try {
    return Soak(o).run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: %s\n", e.what());
    return 1;
  }
}
