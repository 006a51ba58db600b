// Fleet figures (issue 16), each beside its local baseline measured in the same run: one
// nats-server on loopback, ccmuxd machines with the fleet plugin whose "claude" is
// fake_claude_firehose.
//   latency: a paced session on bravo at 1k events/s; claude stdout -> a client on bravo's own
//            socket vs a client on alpha's socket subscribed to "bravo/s-…": p50/p99;
//   replay:  100k stored events of bravo's session, from seq 1, to a client of alpha (through
//            NATS) vs a client of bravo: median of 3;
//   ls:      `ccmux ls --fleet` on a fleet of 20 machines with 50 sessions each vs `ccmux ls`
//            of one machine with 50: median of 5 (the CLI process, start to exit);
//   fanout:  one firehose session on bravo -> 100 clients of alpha subscribed to it vs 100
//            clients of bravo itself: deliveries/s.
// Prints figures; never fails on a time.
// Usage: ccmux_fleet_bench [--only latency|replay|ls|fanout] [--events N] [--rate R]
//                          [--replay-events N] [--machines M] [--sessions S] [--clients C]
#include "bench_support.h"
#include "harness.h"
#include "nats_server.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
using namespace ccmux::bench;
using nlohmann::json;

namespace {

bool wait_until(const std::function<bool()>& f, double timeout_s) {
  auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return f();
}
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// One ccmuxd of the fleet; its claude is the firehose in the mode `env` says.
struct FleetMachine {
  TempDir t;
  std::unique_ptr<Daemon> d;
  std::unique_ptr<Client> c;
  FleetMachine(const std::string& name, const std::string& nats_url, std::vector<std::pair<std::string, std::string>> env) {
    DaemonOptions o;
    o.log_level = "info";
    o.claude_path = build_dir() + "/bench/fake_claude_firehose";
    o.claude_env = std::move(env);
    o.extra_yaml = "plugins:\n  - name: fleet\n    search_dir: " + build_dir() + "/plugins\n    required: true\n    servers: [" +
                   nats_url + "]\n    machine: " + name + "\n    heartbeat_ms: 500\n    down_after_ms: 2000\n";
    d = std::make_unique<Daemon>(t.path + "/d", "http://127.0.0.1:9", o);
    c = d->connect();
  }
  std::string new_session() {
    std::string id = c->request("session.new", {{"cwd", d->project()}})["id"];
    wait_for_state(*c, id, "idle");
    return id;
  }
};

bool fleet_up(FleetMachine& m, size_t machines) {
  json last;
  bool ok = wait_until(
      [&] {
        last = m.c->request("fleet.machines");
        size_t up = 0;
        for (auto& x : last["machines"]) up += x["state"] == "up";
        return up >= machines;
      },
      60);
  if (!ok) fprintf(stderr, "fleet not up: %s\n%s\n", last.dump().c_str(), m.d->log().substr(0, 4000).c_str());
  return ok;
}

// ---- latency ----
void bench_latency(long events, long rate) {
  NatsServer nats;
  FleetMachine alpha("alpha", nats.url(), {});
  FleetMachine bravo("bravo", nats.url(),
                     {{"FIREHOSE_MODE", "paced"}, {"FIREHOSE_EVENTS", std::to_string(events)}, {"FIREHOSE_RATE", std::to_string(rate)}});
  if (!fleet_up(alpha, 2)) return (void)printf("latency: the fleet did not come up\n");
  std::string session = bravo.new_session();
  uint64_t head = bravo.c->request("session.get", {{"session", session}})["last_seq"];
  auto local = bravo.d->connect();
  auto remote = alpha.d->connect();
  local->request("subscribe", {{"session", session}, {"from_seq", head + 1}});
  remote->request("subscribe", {{"session", "bravo/" + session}, {"from_seq", head + 1}});
  std::vector<int64_t> lat_local, lat_remote;
  auto collect = [&](Client& c, std::vector<int64_t>& out) {
    while (static_cast<long>(out.size()) < events) {
      auto line = c.next_raw(15000);
      if (!line) break;
      int64_t now = now_ns();
      auto at = line->find("token ");
      if (line->find("\"kind\":\"stream_event\"") == std::string::npos || at == std::string::npos) continue;
      out.push_back(now - std::strtoll(line->c_str() + at + 6, nullptr, 10));
    }
  };
  bravo.c->request("session.send", {{"session", session}, {"prompt", "go"}});
  std::thread t([&] { collect(*local, lat_local); });
  collect(*remote, lat_remote);
  t.join();
  printf("latency claude stdout -> client at %ld events/s, %ld events: local (bravo's socket) p50 %.0f us, p99 %.0f us; "
         "remote (alpha's socket, through NATS) p50 %.0f us, p99 %.0f us (%zu/%zu received)\n",
         rate, events, percentile(lat_local, 0.5) / 1e3, percentile(lat_local, 0.99) / 1e3, percentile(lat_remote, 0.5) / 1e3,
         percentile(lat_remote, 0.99) / 1e3, lat_local.size(), lat_remote.size());
}

// ---- replay ----
double replay_once(Client& c, const std::string& session, uint64_t head) {
  auto t0 = Clock::now();
  c.request("subscribe", {{"session", session}, {"from_seq", 1}});
  for (;;) {
    auto line = c.next_raw(30000);
    if (!line) return -1;
    auto at = line->find("\"seq\":");
    if (at != std::string::npos && std::strtoull(line->c_str() + at + 6, nullptr, 10) >= head) break;
  }
  double ms = ms_since(t0);
  c.request("unsubscribe", {{"session", session}});
  return ms;
}

void bench_replay(long events) {
  NatsServer nats;
  FleetMachine alpha("alpha", nats.url(), {});
  FleetMachine bravo("bravo", nats.url(), {{"FIREHOSE_MODE", "stream"}, {"FIREHOSE_EVENTS", std::to_string(events)}});
  if (!fleet_up(alpha, 2)) return (void)printf("replay: the fleet did not come up\n");
  std::string session = bravo.new_session();
  bravo.c->request("session.send", {{"session", session}, {"prompt", "go"}});
  wait_turns(*bravo.c, session, 1, 600);
  uint64_t head = bravo.c->request("session.get", {{"session", session}})["last_seq"];
  std::vector<double> local, remote;
  for (int run = 0; run < 3; ++run) {
    auto l = bravo.d->connect();
    local.push_back(replay_once(*l, session, head));
    auto r = alpha.d->connect();
    remote.push_back(replay_once(*r, "bravo/" + session, head));
  }
  double lm = median(local), rm = median(remote);
  printf("replay of %lu stored events from seq 1, median of 3: local (bravo's socket) %.0f ms; remote (alpha's socket, "
         "through NATS) %.0f ms (%.1fx local; runs %.0f/%.0f/%.0f ms)\n",
         static_cast<unsigned long>(head), lm, rm, rm / lm, remote[0], remote[1], remote[2]);
}

// ---- ccmux ls --fleet ----
double time_cli(const std::vector<std::string>& argv) {
  std::string out;
  auto t0 = Clock::now();
  int rc = run_command(argv, &out);
  double ms = ms_since(t0);
  return rc == 0 ? ms : -1;
}

void bench_ls(int machines, int sessions) {
  NatsServer nats;
  std::vector<std::unique_ptr<FleetMachine>> fleet;
  for (int i = 0; i < machines; ++i)
    fleet.push_back(std::make_unique<FleetMachine>("m" + std::to_string(i), nats.url(),
                                                   std::vector<std::pair<std::string, std::string>>{{"FIREHOSE_MODE", "idle"}}));
  if (!fleet_up(*fleet[0], static_cast<size_t>(machines))) return (void)printf("ls: the fleet did not come up\n");
  // Sessions that exist without a process each: started, then stopped (listed as exited).
  for (auto& m : fleet)
    for (int s = 0; s < sessions; ++s) {
      std::string id = m->new_session();
      m->c->request("session.stop", {{"session", id}});
    }
  std::vector<double> local, all;
  for (int run = 0; run < 5; ++run) {
    local.push_back(time_cli({ccmux_bin(), "--socket", fleet[0]->d->socket(), "ls"}));
    all.push_back(time_cli({ccmux_bin(), "--socket", fleet[0]->d->socket(), "ls", "--fleet"}));
  }
  size_t listed = fleet[0]->c->request("fleet.sessions")["sessions"].size();
  printf("ccmux ls: one machine with %d sessions %.0f ms; ccmux ls --fleet with %d machines x %d sessions (%zu listed) "
         "%.0f ms, median of 5\n",
         sessions, median(local), machines, sessions, listed, median(all));
}

// ---- fan-out ----
double fanout(FleetMachine& owner, FleetMachine& via, const std::string& session, const std::string& shown, int clients,
              long events) {
  std::vector<std::unique_ptr<Client>> cs;
  uint64_t head = owner.c->request("session.get", {{"session", session}})["last_seq"];
  for (int i = 0; i < clients; ++i) {
    cs.push_back(via.d->connect());
    cs.back()->request("subscribe", {{"session", shown}, {"from_seq", head + 1}});
  }
  std::atomic<long> got{0};
  auto t0 = Clock::now();
  owner.c->request("session.send", {{"session", session}, {"prompt", "go"}});
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r)
    readers.emplace_back([&, r] {
      for (size_t i = static_cast<size_t>(r); i < cs.size(); i += 4)
        for (long n = 0; n < events;) {
          auto line = cs[i]->next_raw(30000);
          if (!line) break;
          if (line->find("\"kind\":\"stream_event\"") != std::string::npos) ++n, ++got;
        }
    });
  for (auto& t : readers) t.join();
  double s = secs(t0, Clock::now());
  return static_cast<double>(got.load()) / s;
}

void bench_fanout(int clients, long events) {
  NatsServer nats;
  FleetMachine alpha("alpha", nats.url(), {});
  FleetMachine bravo("bravo", nats.url(), {{"FIREHOSE_MODE", "stream"}, {"FIREHOSE_EVENTS", std::to_string(events)}});
  if (!fleet_up(alpha, 2)) return (void)printf("fanout: the fleet did not come up\n");
  std::string s1 = bravo.new_session();
  double local = fanout(bravo, bravo, s1, s1, clients, events);
  std::string s2 = bravo.new_session();
  double remote = fanout(bravo, alpha, s2, "bravo/" + s2, clients, events);
  printf("fan-out of one session (%ld events) to %d clients: local (bravo's socket) %.0f deliveries/s; remote (alpha's "
         "socket, %d subscriptions through NATS) %.0f deliveries/s (%.2fx local)\n",
         events, clients, local, clients, remote, remote / local);
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  long events = 5000, rate = 1000, replay_events = 100000, fan_events = 2000;
  int machines = 20, sessions = 50, clients = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--only") only = v;
    else if (k == "--events") events = std::stol(v);
    else if (k == "--rate") rate = std::stol(v);
    else if (k == "--replay-events") replay_events = std::stol(v);
    else if (k == "--machines") machines = std::stoi(v);
    else if (k == "--sessions") sessions = std::stoi(v);
    else if (k == "--clients") clients = std::stoi(v);
    else if (k == "--fanout-events") fan_events = std::stol(v);
  }
  try {
    if (only.empty() || only == "latency") bench_latency(events, rate);
    if (only.empty() || only == "replay") bench_replay(replay_events);
    if (only.empty() || only == "fanout") bench_fanout(clients, fan_events);
    if (only.empty() || only == "ls") bench_ls(machines, sessions);
  } catch (const std::exception& e) {
    fprintf(stderr, "fleet bench failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
