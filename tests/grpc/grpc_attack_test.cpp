// transport-grpc under attack: hostile or careless clients (streams opened and cancelled at
// random, clients that never read, floods of requests, bogus messages, bytes that are not
// gRPC, a stalled TLS handshake) and a SIGTERM in the middle of it all. ccmuxd must stay up,
// lose nothing, keep its memory bounded, and finish every call — its stop included.
// The scripted fake claude produces the events (tests/fake_claude/fake_claude.py).
#include "grpc_fixture.h"

#include "ccmux/v1/events.grpc.pb.h"
#include "ccmux/v1/machine.grpc.pb.h"
#include "ccmux/v1/sessions.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
using namespace std::chrono_literals;

namespace {

namespace v1 = ccmux::v1;
using Clock = std::chrono::steady_clock;

DaemonOptions fake_claude() {
  DaemonOptions o;
  o.claude_path = fake_claude_path();
  o.log_level = "info";  // a debug line per event would be most of the work in these tests
  return o;
}

// A plain TCP connection to 127.0.0.1:port (-1 when refused).
int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Writes `bytes`, then reads until the peer closes or `timeout` passes: true when it closed.
bool closed_after(int fd, const std::string& bytes, std::chrono::milliseconds timeout) {
  if (!bytes.empty() && write(fd, bytes.data(), bytes.size()) < 0) return true;
  auto end = Clock::now() + timeout;
  char buf[4096];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
    if (poll(&p, 1, std::max(left, 1)) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return true;
  }
  return false;
}

long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

bool alive(pid_t pid) {
  siginfo_t si{};
  return waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

class GrpcAttack : public GrpcE2E {
 protected:
  // ccmuxd with the fake claude, a token, and a session that has written `prompt`'s events.
  void start_flooded(const std::string& prompt, const std::string& more = "") {
    start_with(more, fake_claude());
    local = daemon->connect();
    token = local->request("token.create", {{"name", "attacker"}})["token"];
    session = new_session(*local, prompt);
    EventLog log(*local, session);
    ASSERT_TRUE(log.wait_kind("result", 60000)) << "the fake claude did not finish: " << prompt;
    local->request("unsubscribe", {{"session", session}});
  }
  // ccmuxd's protocol clients: the test's own socket client, and one per gRPC stream or caller.
  int clients() { return local->request("status")["clients"].get<int>(); }
  void auth(grpc::ClientContext& ctx) { ctx.AddMetadata("authorization", "Bearer " + token); }
  std::shared_ptr<grpc::Channel> big_channel() {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = read_file(tls + "/ca.crt");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    return grpc::CreateCustomChannel(addr(), grpc::SslCredentials(o), args);
  }
  // A client whose HTTP/2 windows stay small when it does not read (no BDP growth): the
  // server's writes to it stall after a few KB, as to a phone that stopped reading.
  std::shared_ptr<grpc::Channel> stingy_channel() {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = read_file(tls + "/ca.crt");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 4096);
    return grpc::CreateCustomChannel(addr(), grpc::SslCredentials(o), args);
  }

  std::unique_ptr<Client> local;
  std::string token, session;
};

TEST_F(GrpcAttack, ARevokedTokensStreamIsEndedEvenWhenItsClientNeverReads) {
  start_flooded("flood 200 64");  // ~13 MB of events: far more than the HTTP/2 windows hold
  int base = clients();
  auto ch = stingy_channel();
  grpc::ClientContext ctx;
  auth(ctx);
  v1::SubscribeRequest req;
  req.set_session(session);
  req.set_from_seq(1);
  auto stream = v1::Events::NewStub(ch)->Subscribe(&ctx, req);  // never read
  ASSERT_TRUE(wait_until([&] { return clients() == base + 1; }, 10s)) << "the stream did not open";
  std::this_thread::sleep_for(1s);  // the server's write is now stuck behind the client's window
  local->request("token.revoke", {{"name", "attacker"}});
  // The server ends the call (its in-daemon client goes) though the client reads nothing.
  EXPECT_TRUE(wait_until([&] { return clients() == base; }, 20s)) << "the revoked stream is still open: " << clients();
  ctx.TryCancel();
}

TEST_F(GrpcAttack, AConnectClientSendingTenThousandRequestsWithoutReadingGetsEveryReply) {
  start_flooded("hello");
  long rss_before = rss_kb(daemon->pid());
  grpc::ClientContext ctx;
  auth(ctx);
  auto ch = big_channel();
  auto stream = v1::Events::NewStub(ch)->Connect(&ctx);
  constexpr uint64_t kRequests = 10000;
  for (uint64_t id = 1; id <= kRequests; ++id) {
    v1::ClientMessage m;
    m.set_id(id);
    m.mutable_call()->set_method(id % 2 ? "status" : "session.list");
    ASSERT_TRUE(stream->Write(m)) << "write " << id;
  }
  long rss_peak = rss_kb(daemon->pid());
  stream->WritesDone();
  std::set<uint64_t> replied;
  v1::ServerMessage in;
  while (stream->Read(&in)) {
    ASSERT_TRUE(in.has_reply());
    EXPECT_FALSE(in.reply().has_error()) << in.reply().error().code() << ": " << in.reply().error().message();
    replied.insert(in.reply().id());
  }
  auto st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(replied.size(), kRequests);
  EXPECT_EQ(*replied.begin(), 1u);
  EXPECT_EQ(*replied.rbegin(), kRequests);
  // Replies are not paused by flow control, but they are bounded (256 MiB): far below here.
  std::cout << "ccmuxd RSS " << rss_before << " kB before, " << rss_peak << " kB with 10000 replies unread\n";
  EXPECT_LT(rss_peak - rss_before, 300 * 1024);
  EXPECT_TRUE(alive(daemon->pid()));
}

TEST_F(GrpcAttack, EveryBogusConnectMessageIsAnsweredWithItsIdAndTheStreamGoesOn) {
  start_flooded("hello", "    max_message_bytes: 33554432\n");
  grpc::ClientContext ctx;
  auth(ctx);
  auto ch = big_channel();
  auto stream = v1::Events::NewStub(ch)->Connect(&ctx);
  std::vector<v1::ClientMessage> bad(12);
  bad[0].mutable_call()->set_method("status");
  bad[0].mutable_call()->set_params_json("{not json");
  bad[1].mutable_call()->set_method("");
  bad[2].mutable_call()->set_method("no.such.method");
  bad[3].mutable_call()->set_method("session.get");
  bad[3].mutable_call()->set_params_json(R"({"session":)" + std::string(250, '[') + std::string(250, ']') + "}");
  bad[4].mutable_call()->set_method("status");
  bad[4].mutable_call()->set_params_json("[1,2]");
  // bad[5]: no body at all
  bad[6].mutable_send()->set_session(session);
  bad[6].mutable_send()->mutable_prompt()->add_images()->set_data("no media type");
  bad[7].mutable_send()->set_session("s-nosuchsession");
  auto* img = bad[7].mutable_send()->mutable_prompt()->add_images();
  img->set_media_type("image/png");
  img->set_data(std::string(30 << 20, '\x89'));  // 30 MB: 40 MB as base64 to the daemon
  bad[8].mutable_answer()->set_id("a-nosuchapproval");
  bad[8].mutable_answer()->set_decision("maybe");
  bad[8].mutable_answer()->set_updated_input("{\"x\":");
  bad[9].mutable_subscribe()->set_session("s-nosuchsession");
  bad[10].mutable_set_mode()->set_session(session);
  bad[10].mutable_set_mode()->set_mode(std::string(100000, '\x01'));
  bad[11].mutable_send()->set_session(std::string(1 << 20, '"'));
  for (size_t i = 0; i < bad.size(); ++i) {
    bad[i].set_id(100 + i);
    ASSERT_TRUE(stream->Write(bad[i])) << "write " << i;
  }
  std::map<uint64_t, v1::Reply> replies;
  v1::ServerMessage in;
  auto t0 = Clock::now();
  while (replies.size() < bad.size() && stream->Read(&in)) {
    ASSERT_LT(Clock::now() - t0, 60s);
    if (in.has_reply()) replies[in.reply().id()] = in.reply();
  }
  for (size_t i = 0; i < bad.size(); ++i) {
    auto it = replies.find(100 + i);
    if (it == replies.end()) {
      ADD_FAILURE() << "no reply to bogus message " << i;
      continue;
    }
    EXPECT_TRUE(it->second.has_error()) << "bogus message " << i << " succeeded";
    std::cout << "bogus " << i << ": " << it->second.error().code() << ": " << it->second.error().message().substr(0, 120) << "\n";
  }
  // The stream still serves.
  v1::ClientMessage ok;
  ok.set_id(1);
  ok.mutable_call()->set_method("status");
  ASSERT_TRUE(stream->Write(ok));
  bool got = false;
  while (!got && stream->Read(&in)) got = in.has_reply() && in.reply().id() == 1 && !in.reply().has_error();
  EXPECT_TRUE(got);
  // Over max_message_bytes: gRPC refuses it and ends this stream, nothing more.
  v1::ClientMessage huge;
  huge.set_id(2);
  huge.mutable_call()->set_method("status");
  huge.mutable_call()->set_params_json(std::string(33 << 20, ' ') + "{}");
  stream->Write(huge);
  while (stream->Read(&in)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(info(channel(), token).ok());
}

TEST_F(GrpcAttack, HundredsOfStreamsOpenedAndCancelledAtRandomLeaveNothingBehind) {
  start_flooded("flood 100 32", "    send_queue_bytes: 65536\n");
  int base = clients();
  long rss_before = rss_kb(daemon->pid());
  auto ch = channel();
  auto stub = v1::Events::NewStub(ch);
  std::atomic<int> done{0}, subscribed{0};
  auto worker = [&](unsigned seed) {
    std::mt19937 rnd(seed);
    for (int i = 0; i < 40; ++i) {
      grpc::ClientContext ctx;
      auth(ctx);
      ctx.set_deadline(std::chrono::system_clock::now() + 60s);
      int reads = static_cast<int>(rnd() % 40);  // 0: cancelled before reading anything
      if (rnd() % 2) {
        v1::SubscribeRequest req;
        req.set_session(session);
        req.set_from_seq(1 + rnd() % 50);
        auto s = stub->Subscribe(&ctx, req);
        v1::SubscribeUpdate u;
        for (int k = 0; k < reads && s->Read(&u); ++k) subscribed += u.has_subscribed();
        if (rnd() % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rnd() % 100));
        ctx.TryCancel();
        while (s->Read(&u)) {
        }
        s->Finish();
      } else {
        auto s = stub->Connect(&ctx);
        v1::ClientMessage m;
        m.set_id(1);
        m.mutable_subscribe()->set_session(session);
        s->Write(m);
        m.set_id(2);
        m.mutable_call()->set_method("status");
        s->Write(m);
        v1::ServerMessage in;
        for (int k = 0; k < reads && s->Read(&in); ++k) {
        }
        if (rnd() % 2) ctx.TryCancel();
        else s->WritesDone();
        while (s->Read(&in)) {
        }
        s->Finish();
      }
      ++done;
    }
  };
  std::vector<std::thread> th;
  for (unsigned t = 0; t < 8; ++t) th.emplace_back(worker, 1000 + t);
  for (auto& t : th) t.join();
  EXPECT_EQ(done.load(), 320);
  // Every stream's in-daemon client is gone, and ccmuxd still serves new streams in full.
  EXPECT_TRUE(wait_until([&] { return clients() == base; }, 20s)) << clients() << " clients, " << base << " expected";
  grpc::ClientContext ctx;
  auth(ctx);
  v1::SubscribeRequest req;
  req.set_session(session);
  req.set_from_seq(1);
  auto s = stub->Subscribe(&ctx, req);
  v1::SubscribeUpdate u;
  uint64_t last = 0, head = 0;
  while (s->Read(&u)) {
    if (u.has_subscribed()) head = u.subscribed().head();
    if (u.has_event()) {
      EXPECT_EQ(u.event().seq(), last + 1) << "a gap or a duplicate";
      last = u.event().seq();
    }
    if (head && last >= head) break;
  }
  EXPECT_GT(head, 100u);
  EXPECT_EQ(last, head);
  ctx.TryCancel();
  long rss_after = rss_kb(daemon->pid());
  std::cout << "ccmuxd RSS " << rss_before << " kB before 320 streams, " << rss_after << " kB after\n";
#if defined(CCMUX_ASAN)
  // ASan's quarantine keeps up to 256 MB of what the streams freed (305 MB growth measured).
  EXPECT_LT(rss_after - rss_before, 700 * 1024);
#else
  EXPECT_LT(rss_after - rss_before, 200 * 1024);
#endif
}

TEST_F(GrpcAttack, BytesThatAreNotGrpcAreDroppedAndTheDaemonServesOn) {
  start_flooded("hello");
  for (std::string junk : {std::string("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                           std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(64, '\0'),
                           std::string("\x16\x03\x01\xff\xff", 5) + std::string(4096, 'A'), std::string(100000, '\xff')}) {
    int fd = tcp_connect(port);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(closed_after(fd, junk, 10s)) << "the server kept a connection that sent junk open";
    close(fd);
  }
  // A bearer token of 1 MB, and a flood of bad ones: refused, rate-limited, nothing more.
  auto ch = channel();
  EXPECT_FALSE(info(ch, std::string(1 << 20, 'x')).ok());
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(info(ch, "ccmux_bad-" + std::to_string(i)).ok());
  EXPECT_EQ(info(ch, token).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);  // this address, for now
  EXPECT_TRUE(alive(daemon->pid()));
  EXPECT_TRUE(local->request("status").contains("pid"));
}

TEST_F(GrpcAttack, AStalledTlsHandshakeIsDroppedWithinSeconds) {
  start_flooded("hello");
  // The first bytes of a ClientHello, then nothing: each such connection holds a descriptor
  // of ccmuxd's (and an unauthenticated peer can open many), so it must not be kept for long.
  int fd = tcp_connect(port);
  ASSERT_GE(fd, 0);
  auto t0 = Clock::now();
  EXPECT_TRUE(closed_after(fd, std::string("\x16\x03\x01\x02\x00\x01", 6), 30s)) << "still open after 30 s";
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << "a stalled handshake was dropped after " << took << " s\n";
  EXPECT_LT(took, 15.0);
  close(fd);
  EXPECT_TRUE(info(channel(), token).ok());
}

TEST_F(GrpcAttack, SigtermWithStreamsOpenCallsWaitingAndAStalledHandshakeEndsCallsAndExitsInTime) {
  start_flooded("flood 100 64");
  auto ch = channel();
  auto events = v1::Events::NewStub(stingy_channel());  // writes to the non-readers stall
  // Streams that never read, streams that read, Connect streams with calls outstanding.
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubscribeUpdate>>> subs;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<v1::ClientMessage, v1::ServerMessage>>> conns;
  for (int i = 0; i < 20; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    auth(*ctxs.back());
    ctxs.back()->set_deadline(std::chrono::system_clock::now() + 120s);
    v1::SubscribeRequest req;
    req.set_session(session);
    req.set_from_seq(1);
    subs.push_back(events->Subscribe(ctxs.back().get(), req));
  }
  for (int i = 0; i < 10; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    auth(*ctxs.back());
    ctxs.back()->set_deadline(std::chrono::system_clock::now() + 120s);
    conns.push_back(events->Connect(ctxs.back().get()));
    for (uint64_t id = 1; id <= 50; ++id) {
      v1::ClientMessage m;
      m.set_id(id);
      m.mutable_call()->set_method("session.list");
      conns.back()->Write(m);
    }
  }
  // A TLS handshake that stalls after its first bytes, and a connection that says nothing.
  int stalled = tcp_connect(port), silent = tcp_connect(port);
  ASSERT_GE(stalled, 0);
  ASSERT_GE(silent, 0);
  ASSERT_EQ(write(stalled, "\x16\x03\x01\x02\x00\x01", 6), 6);
  // Unary callers that keep calling through the stop.
  std::atomic<bool> stop_calling{false};
  std::atomic<int> unary_done{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      auto stub = v1::Sessions::NewStub(ch);
      while (!stop_calling) {
        grpc::ClientContext c;
        auth(c);
        c.set_deadline(std::chrono::system_clock::now() + 120s);
        v1::ListSessionsResponse r;
        auto st = stub->List(&c, v1::ListSessionsRequest(), &r);
        ++unary_done;
        if (!st.ok()) std::this_thread::sleep_for(20ms);
      }
    });
  std::this_thread::sleep_for(1s);
  // Readers: half of the subscriptions read on (and must see their stream end).
  std::atomic<int> ended{0};
  std::vector<std::thread> readers;
  for (size_t i = 0; i < subs.size(); i += 2)
    readers.emplace_back([&, i] {
      v1::SubscribeUpdate u;
      while (subs[i]->Read(&u)) {
      }
      subs[i]->Finish();
      ++ended;
    });
  pid_t pid = daemon->pid();
  auto t0 = Clock::now();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  siginfo_t si{};
  bool exited = wait_until([&] { return !alive(pid); }, 20s);
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(exited) << "ccmuxd did not exit within 20 s of SIGTERM";
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT), 0);
  EXPECT_EQ(si.si_code, CLD_EXITED) << "ccmuxd died of signal " << si.si_status;
  EXPECT_EQ(si.si_status, 0) << "exit status (1: the plugins' stop budget ran out)";
  std::cout << "ccmuxd exited " << took << " s after SIGTERM\n";
  EXPECT_LT(took, 8.0);
  stop_calling = true;
  for (auto& t : callers) t.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(ended.load(), 10);
  EXPECT_GT(unary_done.load(), 0);
  for (auto& c : ctxs) c->TryCancel();
  close(stalled);
  close(silent);
  std::string log = daemon->log();
  EXPECT_EQ(log.find("did not stop within"), std::string::npos) << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
}

TEST_F(GrpcAttack, WhileCcmuxdStopsAGoodTokenIsToldUnavailableNotThatItIsBad) {
  // A claude that lingers after its stdin closes keeps ccmuxd in its stopping phase (sessions
  // ending, plugins still up) for seconds: the window a phone reconnecting during a restart hits.
  std::string lingering = dir.path + "/lingering-claude";
  write_file(lingering, "#!/bin/sh\ntrap '' TERM\n/usr/bin/python3 " + fake_claude_path() + " \"$@\"\nsleep 4\n");
  chmod(lingering.c_str(), 0755);
  DaemonOptions o = fake_claude();
  o.claude_path = lingering;
  start_with("    auth_max_failures: 3\n", o);
  local = daemon->connect();
  token = local->request("token.create", {{"name", "phone"}})["token"];
  session = new_session(*local, "hello");
  EventLog log(*local, session);
  ASSERT_TRUE(log.wait_kind("result", 60000));
  auto ch = channel();
  ASSERT_TRUE(info(ch, token).ok());
  local->request("daemon.shutdown", {{"stop_sessions", true}});
  std::map<grpc::StatusCode, int> seen;
  std::string unauthenticated;
  auto t0 = Clock::now();
  while (Clock::now() - t0 < 30s && alive(daemon->pid())) {
    auto st = info(ch, token);
    ++seen[st.error_code()];
    if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED || st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
      unauthenticated = st.error_message();
    std::this_thread::sleep_for(100ms);
  }
  for (auto& [code, n] : seen) std::cout << "status " << code << ": " << n << " call(s)\n";
  EXPECT_GT(seen[grpc::StatusCode::UNAVAILABLE], 2) << "the stopping phase was not seen";
  EXPECT_TRUE(unauthenticated.empty()) << "a good token was refused while ccmuxd stopped: " << unauthenticated;
  std::string dlog = daemon->log();
  EXPECT_EQ(dlog.find("refused 127.0.0.1: bad token"), std::string::npos) << "logged as a bad token";
}

TEST_F(GrpcAttack, AClientThatNeverReadsAFirehoseCostsBoundedMemoryAndStallsNoOtherStream) {
  start_flooded("hello");
  long rss_before = rss_kb(daemon->pid());
  // Twenty streams on every session, live, that never read; one that reads everything.
  auto stingy = v1::Events::NewStub(stingy_channel());
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubscribeUpdate>>> idle;
  for (int i = 0; i < 20; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    auth(*ctxs.back());
    v1::SubscribeRequest req;
    req.set_session("*");
    idle.push_back(stingy->Subscribe(ctxs.back().get(), req));
  }
  grpc::ClientContext rctx;
  auth(rctx);
  v1::SubscribeRequest all;
  all.set_session("*");
  auto reader = v1::Events::NewStub(big_channel())->Subscribe(&rctx, all);
  v1::SubscribeUpdate u;
  ASSERT_TRUE(reader->Read(&u));
  ASSERT_TRUE(u.has_subscribed());
  std::this_thread::sleep_for(500ms);  // every idle stream is subscribed before the firehose
  std::string firehose = new_session(*local, "flood 400 64");  // ~26 MB of events, live
  uint64_t last = 0;
  size_t bytes = 0;
  long rss_peak = 0;
  auto t0 = Clock::now();
  while (reader->Read(&u)) {
    ASSERT_LT(Clock::now() - t0, 120s) << "the reading stream stalled at seq " << last;
    if (!u.has_event() || u.event().session() != firehose) continue;
    EXPECT_EQ(u.event().seq(), last + 1) << "a gap or a duplicate";
    last = u.event().seq();
    bytes += u.event().payload().size();
    if (last % 50 == 0) rss_peak = std::max(rss_peak, rss_kb(daemon->pid()));
    if (u.event().kind() == "result") break;
  }
  std::cout << "read " << last << " events (" << bytes / 1024 << " kB) beside 20 idle streams; ccmuxd RSS "
            << rss_before << " kB before, " << rss_peak << " kB at most\n";
  EXPECT_GT(bytes, size_t{25} << 20);
  // "*" is live only: the daemon cannot pause it. What the idle streams hold together is
  // bounded (128 MiB, outbox.h's QueueBudget), then the worst of them are ended. Unbounded,
  // each would hold the whole firehose: 20 x 26 MB.
#if defined(CCMUX_ASAN)
  // ASan keeps freed memory in its quarantine (256 MB by default) and adds shadow memory: the
  // bound is shown by the plain build; here only that it is not wildly exceeded.
  EXPECT_LT(rss_peak - rss_before, 700 * 1024);
#else
  EXPECT_LT(rss_peak - rss_before, 250 * 1024);
#endif
  rctx.TryCancel();
  for (auto& c : ctxs) c->TryCancel();
}

TEST_F(GrpcAttack, UnaryCallsInFlightWhenTheirTokenIsRevokedAllFinish) {
  start_flooded("hello");
  auto ch = channel();
  std::atomic<bool> revoked{false};
  std::atomic<int> ok_after{0}, calls{0};
  std::vector<std::thread> th;
  for (int t = 0; t < 6; ++t)
    th.emplace_back([&, t] {
      auto sessions = v1::Sessions::NewStub(ch);
      auto machine = v1::Machine::NewStub(ch);
      for (int i = 0; i < 300; ++i) {
        grpc::ClientContext c;
        auth(c);
        c.set_deadline(std::chrono::system_clock::now() + 30s);
        grpc::Status st;
        if (t % 2) {
          v1::ListSessionsResponse r;
          st = sessions->List(&c, v1::ListSessionsRequest(), &r);
        } else {
          v1::InfoResponse r;
          st = machine->Info(&c, v1::InfoRequest(), &r);
        }
        ++calls;
        EXPECT_NE(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "a call hung";
        bool after = revoked.load();
        if (after && st.ok()) ++ok_after;
        if (after && !st.ok()) break;
      }
    });
  std::this_thread::sleep_for(300ms);
  local->request("token.revoke", {{"name", "attacker"}});
  revoked = true;
  for (auto& x : th) x.join();
  std::cout << calls.load() << " calls, " << ok_after.load() << " answered OK after the revocation returned\n";
  EXPECT_LE(ok_after.load(), 12);  // at most the ones authenticated just before it
  auto after = info(ch, token).error_code();  // refused; the callers' retries may have hit the rate limit
  EXPECT_TRUE(after == grpc::StatusCode::UNAUTHENTICATED || after == grpc::StatusCode::RESOURCE_EXHAUSTED) << after;
  EXPECT_TRUE(alive(daemon->pid()));
}

}  // namespace
