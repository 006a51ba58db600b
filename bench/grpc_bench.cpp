// transport-grpc figures (issue 14), each beside its baseline measured in the same run and
// the same daemon (transport-ws and transport-grpc both loaded):
//   replay:  100k stored events to one gRPC client (Events.Subscribe from seq 1: connect +
//            subscribe + all events), median of 3, vs WebSocket and the local socket;
//   fanout:  one firehose session -> 100 Events.Subscribe streams, deliveries/s and ccmuxd
//            CPU per delivery, vs 100 WebSocket clients;
//   connect: an approval answered over Events.Connect -> its control_response read by claude,
//            median and p99, vs the same answer over the local socket (and Approvals.Answer).
// gRPC is plain text on loopback with a token (--tls: the replay and fan-out over TLS too, in a
// second daemon). A bare gRPC server sending as many ready-made messages is the floor beside
// replay and fan-out. Prints figures; never fails on a time.
// Usage: ccmux_grpc_bench [--events N] [--clients C] [--replay-events N] [--approvals N]
//                         [--only replay|fanout|connect] [--tls]
#include "bench_daemon.h"
#include "bench_support.h"
#include "grpc_swarm.h"
#include "harness.h"
#include "raw_grpc_server.h"
#include "ws_swarm.h"

#include "ccmux/v1/approvals.grpc.pb.h"
#include "ccmux/v1/events.grpc.pb.h"
#include "cli/certs.h"

#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
using namespace ccmux::bench;
namespace v1 = ::ccmux::v1;

namespace {

// The bench process's own CPU (its clients' cost: they share the 2 cores with the daemon).
double self_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Where the gRPC clients connect: plain text, or TLS with a CA made for 127.0.0.1.
struct GrpcMode {
  bool tls = false;
  std::string dir;  // TLS files
  std::string yaml() const {
    return tls ? "    tls_cert: " + dir + "/server.crt\n    tls_key: " + dir + "/server.key\n" : "";
  }
  std::string name() const { return tls ? "gRPC/TLS" : "gRPC"; }
  GrpcTarget target(const BenchDaemon& bd) const {
    return {bd.grpc_address(), bd.token, tls ? read_file(dir + "/ca.crt") : ""};
  }
};

GrpcMode make_mode(bool tls, const TempDir& t) {
  GrpcMode m;
  m.tls = tls;
  if (!tls) return m;
  m.dir = t.path + "/tls";
  CertRequest req;
  req.dir = m.dir;
  req.dns_names = {"localhost"};
  req.ips = {"127.0.0.1"};
  make_local_ca_and_server_cert(req);
  return m;
}

BenchDaemonOptions firehose_stream(long events, const GrpcMode& m) {
  BenchDaemonOptions o;
  o.firehose_env = {{"FIREHOSE_MODE", "stream"}, {"FIREHOSE_EVENTS", std::to_string(events)}};
  o.grpc = true;
  o.grpc_yaml = m.yaml();
  return o;
}

void stream_turn(BenchDaemon& bd, int turns_before) {
  bd.local->request("session.send", {{"session", bd.session}, {"prompt", "go"}});
  wait_turns(*bd.local, bd.session, turns_before + 1);
}

// ---- replay ----

constexpr size_t kPayloadBytes = 330;  // the firehose's stream_event lines

// Connect, subscribe from seq 1, read until `head` events arrived; seconds.
double grpc_replay_once(const GrpcTarget& t, const std::string& session, uint64_t head) {
  auto t0 = Clock::now();
  auto ch = bench_channel(t);
  auto stub = v1::Events::NewStub(ch);
  grpc::ClientContext ctx;
  authorize(ctx, t);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
  v1::SubscribeRequest req;
  req.set_session(session);
  req.set_from_seq(1);
  auto reader = stub->Subscribe(&ctx, req);
  v1::SubscribeUpdate u;
  uint64_t got = 0;
  while (got < head && reader->Read(&u))
    if (u.has_event()) ++got;
  double s = secs(t0, Clock::now());
  ctx.TryCancel();
  grpc::Status st = reader->Finish();
  if (got < head)
    fprintf(stderr, "grpc replay: only %llu of %llu events (%d %s)\n", (unsigned long long)got, (unsigned long long)head,
            st.error_code(), st.error_message().c_str());
  return s;
}

double ws_replay_once(BenchDaemon& bd, uint64_t head) {
  std::atomic<uint64_t> got{0};
  auto t0 = Clock::now();
  WsSwarm one(bd.port, 1, bd.ws_opening(1), [&](int, std::string_view m) {
    if (m.find("\"type\":\"event\"") != std::string::npos) ++got;
  });
  wait_until([&] { return got.load() >= head; }, 120);
  return secs(t0, Clock::now());
}

double local_replay_once(BenchDaemon& bd, uint64_t head) {
  auto r = bd.d->connect();
  auto t0 = Clock::now();
  r->request("subscribe", {{"session", bd.session}, {"from_seq", 1}});
  uint64_t n = 0;
  while (n < head && r->next_raw(10000)) ++n;
  return secs(t0, Clock::now());
}

void bench_replay(long events, const GrpcMode& m) {
  BenchDaemon bd(firehose_stream(events, m));
  stream_turn(bd, 0);
  const uint64_t head = bd.head();
  const GrpcTarget t = m.target(bd);
  std::vector<double> g, w, l, g_cpu, w_cpu;
  pid_t pid = bd.d->pid();
  for (int run = 0; run < 3; ++run) {  // interleaved: the machine's noise falls on all three
    double c0 = process_cpu_s(pid);
    g.push_back(grpc_replay_once(t, bd.session, head));
    double c1 = process_cpu_s(pid);
    w.push_back(ws_replay_once(bd, head));
    double c2 = process_cpu_s(pid);
    l.push_back(local_replay_once(bd, head));
    g_cpu.push_back(c1 - c0);
    w_cpu.push_back(c2 - c1);
  }
  // The floor: a bare gRPC server writing as many ready-made messages of the same size.
  std::vector<double> raw;
  {
    RawGrpcServer bare(static_cast<long>(head), kPayloadBytes);
    for (int run = 0; run < 3; ++run) raw.push_back(grpc_replay_once({bare.address(), "", ""}, "", head));
  }
  printf("replay %llu stored events from seq 1 to one client (connect + subscribe + all events, median of 3): %s %.0f ms "
         "(runs %.0f/%.0f/%.0f; ccmuxd CPU %.0f ms) | WebSocket %.0f ms (ccmuxd CPU %.0f ms) | local socket %.0f ms | "
         "bare gRPC server, same number of %zu-byte messages, plain text: %.0f ms  [%s/WebSocket = %.2fx]\n",
         static_cast<unsigned long long>(head), m.name().c_str(), median(g) * 1000, g[0] * 1000, g[1] * 1000, g[2] * 1000,
         median(g_cpu) * 1000, median(w) * 1000, median(w_cpu) * 1000, median(l) * 1000, kPayloadBytes,
         median(raw) * 1000, m.name().c_str(), median(g) / median(w));
}

// ---- fan-out ----

struct FanoutFigure {
  double rate = 0, secs = 0, daemon_us = 0, client_us = 0;
  long delivered = 0;
};

// One turn of the firehose to `clients` subscribers made by `subscribe` (which returns the
// object keeping them alive); `delivered`/`subscribed` are the counters its handler bumps.
template <class Make>
FanoutFigure fanout_turn(BenchDaemon& bd, int turns_before, long want, int clients, std::atomic<long>& delivered,
                         std::atomic<long>& subscribed, Make subscribe) {
  auto keep = subscribe();
  wait_until([&] { return subscribed.load() == clients; }, 60);
  if (subscribed.load() != clients) fprintf(stderr, "fanout: only %ld of %d subscribed\n", subscribed.load(), clients);
  pid_t pid = bd.d->pid();
  double c0 = process_cpu_s(pid), s0 = self_cpu_s();
  auto t0 = Clock::now();
  bd.local->request("session.send", {{"session", bd.session}, {"prompt", "go"}});
  wait_until([&] { return delivered.load() >= want; }, 600);
  FanoutFigure f;
  f.secs = secs(t0, Clock::now());
  f.delivered = delivered.load();
  double d = static_cast<double>(f.delivered);
  f.rate = d / f.secs;
  f.daemon_us = (process_cpu_s(pid) - c0) / d * 1e6;
  f.client_us = (self_cpu_s() - s0) / d * 1e6;
  wait_turns(*bd.local, bd.session, turns_before + 1);
  return f;
}

void bench_fanout(long events, int clients, const GrpcMode& m, bool with_ws) {
  BenchDaemon bd(firehose_stream(events, m));
  const long want = events * clients;
  int turns = 0;
  FanoutFigure ws;
  if (with_ws) {
    std::atomic<long> delivered{0}, subscribed{0};
    ws = fanout_turn(bd, turns++, want, clients, delivered, subscribed, [&] {
      return std::make_unique<WsSwarm>(bd.port, clients, bd.ws_opening(bd.head() + 1), [&](int, std::string_view msg) {
        if (msg.find("\"kind\":\"stream_event\"") != std::string::npos) ++delivered;
        else if (msg.find("\"head\"") != std::string::npos && msg.find("\"response\"") != std::string::npos) ++subscribed;
      });
    });
  }
  std::atomic<long> delivered{0}, subscribed{0};
  FanoutFigure g = fanout_turn(bd, turns++, want, clients, delivered, subscribed, [&] {
    v1::SubscribeRequest req;
    req.set_session(bd.session);
    req.set_from_seq(bd.head() + 1);
    auto s = std::make_unique<GrpcSwarm>(m.target(bd), clients, req, [&](int, const v1::SubscribeUpdate& u) {
      if (u.has_event()) {
        if (u.event().kind() == "stream_event") ++delivered;
      } else if (u.has_subscribed()) {
        ++subscribed;
      }
    });
    return s;
  });
  // The floor: a bare gRPC server writing `events` ready-made messages to each stream.
  double raw_rate = 0;
  {
    RawGrpcServer bare(events, kPayloadBytes);
    std::atomic<long> got{0};
    auto t0 = Clock::now();
    {
      GrpcSwarm raw({bare.address(), "", ""}, clients, v1::SubscribeRequest(), [&](int, const v1::SubscribeUpdate& u) {
        if (u.has_event()) ++got;
      });
      wait_until([&] { return got.load() >= want; }, 600);
      raw_rate = static_cast<double>(got.load()) / secs(t0, Clock::now());
    }
  }
  printf("fanout %ld events x %d %s streams (Events.Subscribe, one connection each): %.0f deliveries/s (%.2f s, %ld/%ld), "
         "ccmuxd CPU %.2f us/delivery, bench clients %.2f us/delivery",
         events, clients, m.name().c_str(), g.rate, g.secs, g.delivered, want, g.daemon_us, g.client_us);
  if (with_ws)
    printf(" | WebSocket, %d clients: %.0f/s (%.2f s), ccmuxd CPU %.2f us/delivery, bench clients %.2f us/delivery  "
           "[%s/WebSocket = %.2fx, ccmuxd CPU %.2fx]",
           clients, ws.rate, ws.secs, ws.daemon_us, ws.client_us, m.name().c_str(), g.rate / ws.rate,
           g.daemon_us / ws.daemon_us);
  printf(" | bare gRPC server, same number of messages to %d plain-text streams: %.0f/s\n", clients, raw_rate);
}

// ---- Connect round trip ----

// The index i of the firehose's request "toolu_<turn>_<i>" from an approval's JSON (-1: not ours).
int tool_index(const std::string& approval_json) {
  auto a = nlohmann::json::parse(approval_json, nullptr, false);
  std::string id = a.is_object() ? a.value("tool_use_id", "") : "";
  auto us = id.rfind('_');
  return id.rfind("toolu_", 0) == 0 && us != std::string::npos ? std::atoi(id.c_str() + us + 1) : -1;
}

// The result of the firehose's turn `turn` (1-based): its `arrived_ns` per request.
std::vector<int64_t> arrivals(BenchDaemon& bd, int turn) {
  auto c = bd.d->connect();
  EventLog log(*c, bd.session);
  log.wait_for([&](const json&) { return static_cast<int>(log.of_kind("result").size()) >= turn; }, 60000);
  auto results = log.of_kind("result");
  if (static_cast<int>(results.size()) < turn) return {};
  return results[static_cast<size_t>(turn - 1)]["payload"]["arrived_ns"].get<std::vector<int64_t>>();
}

struct RoundTrip {
  std::vector<double> us;  // answer sent -> control_response read by claude
};

RoundTrip collect(const std::vector<int64_t>& answered, const std::vector<int64_t>& arrived) {
  RoundTrip r;
  for (size_t i = 10; i < std::min(answered.size(), arrived.size()); ++i)  // the first 10 warm up
    if (answered[i] > 0) r.us.push_back(static_cast<double>(arrived[i] - answered[i]) / 1e3);
  return r;
}

// Answers every approval of one firehose turn over one Events.Connect stream.
std::vector<int64_t> answer_over_connect(BenchDaemon& bd, const GrpcTarget& t, long n) {
  std::vector<int64_t> answered(static_cast<size_t>(n), 0);
  auto stub = v1::Events::NewStub(bench_channel(t));
  grpc::ClientContext ctx;
  authorize(ctx, t);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));  // never a hang
  auto stream = stub->Connect(&ctx);
  v1::ClientMessage watch;
  watch.set_id(1);
  watch.mutable_watch_approvals();
  bool wrote = stream->Write(watch);
  if (getenv("GRPC_BENCH_DEBUG")) fprintf(stderr, "connect: watch written: %d\n", wrote);
  v1::ServerMessage in;
  while (stream->Read(&in) && !in.has_approvals_pending()) {
    if (getenv("GRPC_BENCH_DEBUG")) fprintf(stderr, "connect: first messages: %s\n", in.ShortDebugString().c_str());
  }
  bd.local->request("session.send", {{"session", bd.session}, {"prompt", "go"}});
  long done = 0;
  uint64_t next_id = 2;
  while (done < n && stream->Read(&in)) {
    if (!in.has_approval_requested()) continue;
    int i = tool_index(in.approval_requested().json());
    if (getenv("GRPC_BENCH_DEBUG")) fprintf(stderr, "connect: approval %s tool %d\n", in.approval_requested().id().c_str(), i);
    v1::ClientMessage a;
    a.set_id(next_id++);
    a.mutable_answer()->set_id(in.approval_requested().id());
    a.mutable_answer()->set_decision("allow");
    if (i >= 0 && i < n) answered[static_cast<size_t>(i)] = now_ns();
    stream->Write(a);
    ++done;
  }
  stream->WritesDone();
  ctx.TryCancel();
  stream->Finish();
  return answered;
}

// The same with the typed unary call: Approvals.Watch tells, Approvals.Answer answers.
std::vector<int64_t> answer_over_unary(BenchDaemon& bd, const GrpcTarget& t, long n) {
  std::vector<int64_t> answered(static_cast<size_t>(n), 0);
  auto ch = bench_channel(t);
  auto stub = v1::Approvals::NewStub(ch);
  grpc::ClientContext ctx;
  authorize(ctx, t);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
  auto watch = stub->Watch(&ctx, v1::WatchApprovalsRequest());
  v1::ApprovalUpdate u;
  while (watch->Read(&u) && !u.has_pending()) {
  }
  bd.local->request("session.send", {{"session", bd.session}, {"prompt", "go"}});
  long done = 0;
  while (done < n && watch->Read(&u)) {
    if (!u.has_requested()) continue;
    int i = tool_index(u.requested().json());
    v1::AnswerRequest a;
    a.set_id(u.requested().id());
    a.set_decision("allow");
    v1::AnswerResponse r;
    grpc::ClientContext call;
    authorize(call, t);
    if (i >= 0 && i < n) answered[static_cast<size_t>(i)] = now_ns();
    stub->Answer(&call, a, &r);
    ++done;
  }
  ctx.TryCancel();
  watch->Finish();
  return answered;
}

std::vector<int64_t> answer_over_local(BenchDaemon& bd, long n) {
  std::vector<int64_t> answered(static_cast<size_t>(n), 0);
  auto w = bd.d->connect(true);
  bd.local->request("session.send", {{"session", bd.session}, {"prompt", "go"}});
  long done = 0;
  while (done < n) {
    auto m = w->next(30000);
    if (!m) break;
    if ((*m).value("type", "") != "approval_requested") continue;
    int i = tool_index((*m)["approval"].dump());
    if (i >= 0 && i < n) answered[static_cast<size_t>(i)] = now_ns();
    w->request("approval.answer", {{"id", (*m)["approval"]["id"]}, {"decision", "allow"}});
    ++done;
  }
  return answered;
}

void print_round_trip(const char* what, const RoundTrip& r) {
  printf("  %-44s median %5.0f us, p99 %5.0f us (%zu approvals)\n", what, median(r.us), percentile(r.us, 0.99), r.us.size());
}

void bench_connect(long n, const GrpcMode& m) {
  TempDir pt;
  std::string policy = pt.path + "/ask.lua";
  write_file(policy, "function decide(r) return 'ask' end\n");  // every tool call waits for a client
  BenchDaemonOptions o;
  o.firehose_env = {{"FIREHOSE_MODE", "approvals"}, {"FIREHOSE_APPROVALS", std::to_string(n)}};
  o.grpc = true;
  o.grpc_yaml = m.yaml();
  o.policies = {policy};
  BenchDaemon bd(o);
  const GrpcTarget t = m.target(bd);
  // Two rounds of each, interleaved, so a noisy minute falls on all of them.
  RoundTrip connect, local, unary;
  int turn = 0;
  auto add = [&](RoundTrip& to, const std::vector<int64_t>& answered) {
    auto r = collect(answered, arrivals(bd, ++turn));  // after the answers: the turn's result
    to.us.insert(to.us.end(), r.us.begin(), r.us.end());
  };
  for (int round = 0; round < 2; ++round) {
    add(connect, answer_over_connect(bd, t, n));
    add(local, answer_over_local(bd, n));
    add(unary, answer_over_unary(bd, t, n));
  }
  printf("connect: approval answer sent by the client -> its control_response read by claude (policy: ask; %s):\n",
         m.name().c_str());
  print_round_trip((m.name() + " Events.Connect (ClientMessage.answer)").c_str(), connect);
  print_round_trip((m.name() + " Approvals.Answer (unary)").c_str(), unary);
  print_round_trip("local socket approval.answer (baseline)", local);
  printf("  [Connect/local = %.2fx at the median]\n", median(connect.us) / median(local.us));
}

}  // namespace

int main(int argc, char** argv) {
  long events = 5000, replay_events = 100000, approvals = 250;
  int clients = 100;
  bool tls = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--events") events = std::atol(next());
    else if (a == "--clients") clients = std::atoi(next());
    else if (a == "--replay-events") replay_events = std::atol(next());
    else if (a == "--approvals") approvals = std::atol(next());
    else if (a == "--only") only = next();
    else if (a == "--tls") tls = true;
  }
  auto want = [&](const char* n) { return only.empty() || only == n; };
  setvbuf(stdout, nullptr, _IOLBF, 0);  // each figure shows as soon as it is measured
  printf("ccmux transport-grpc bench (%u cores; clients, daemon and baselines share them)\n",
         std::thread::hardware_concurrency());
  try {  // an error unwinds: the daemons stop with their sessions
    TempDir t;
    GrpcMode plain = make_mode(false, t);
    if (want("replay")) bench_replay(replay_events, plain);
    if (want("fanout")) bench_fanout(events, clients, plain, true);
    if (want("connect")) bench_connect(approvals, plain);
    if (tls) {
      GrpcMode secure = make_mode(true, t);
      if (want("replay")) bench_replay(replay_events, secure);
      if (want("fanout")) bench_fanout(events, clients, secure, true);
    }
  } catch (const std::exception& e) {
    fprintf(stderr, "ccmux_grpc_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
