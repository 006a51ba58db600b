// The client library over transport-grpc (client::GrpcTransport): the same Connection and
// Subscription the CLI uses on the local socket, against ccmuxd with the real plugin over TLS,
// the real claude CLI and the fake Messages API. What comes out of the transport must be the
// text the daemon writes on its local socket, byte for byte.
#include "e2e.h"
#include "ws_client.h"  // free_tcp_port

#include "cli/certs.h"

#include <ccmux/client/grpc_transport.h>
#include <ccmux/client/subscription.h>
#include <ccmux/client/unix_transport.h>

#include <poll.h>

#include <filesystem>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {

class GrpcClient : public E2E {
 protected:
  void SetUp() override {
    port = free_tcp_port();
    tls = dir.path + "/tls";
    CertRequest req;
    req.dir = tls;
    req.dns_names = {"localhost"};
    req.ips = {"127.0.0.1"};
    make_local_ca_and_server_cert(req);
    DaemonOptions o = base_options();
    o.extra_yaml = "plugins:\n  - name: transport-grpc\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                   "    port: " + std::to_string(port) + "\n    tls_cert: " + tls + "/server.crt\n    tls_key: " + tls +
                   "/server.key\n    client_ca: " + tls + "/ca.crt\n";
    start(o);
    token = daemon->connect()->request("token.create", {{"name", "laptop"}})["token"];
  }
  virtual DaemonOptions base_options() const { return {}; }
  client::GrpcOptions options() const {
    client::GrpcOptions o;
    o.address = "localhost:" + std::to_string(port);
    o.ca_file = tls + "/ca.crt";
    o.token = token;
    return o;
  }
  std::unique_ptr<client::Connection> connect(bool watch_approvals = false) const {
    return std::make_unique<client::Connection>(client::GrpcTransport::connect(options()),
                                                client::HelloOptions{watch_approvals, "grpc-test", 10000});
  }
  // The ConnectError connect(o) throws (a failure when it connects).
  static client::ConnectError refusal(const client::GrpcOptions& o) {
    try {
      client::GrpcTransport::connect(o);
    } catch (const client::ConnectError& e) {
      return e;
    }
    ADD_FAILURE() << "connected to " << o.address;
    return client::ConnectError(client::ConnectFailure::other, "connected");
  }
  // The next message of `type` from `c` within `ms` (others skipped); null when none came.
  static json next_of_type(client::Connection& c, const std::string& type, int ms = 60000) {
    auto deadline = client::deadline_in(ms);
    while (auto m = c.next(deadline))
      if (m->value("type", "") == type) return *m;
    return nullptr;
  }
  // A raw message text from the local socket after hello (for byte-for-byte comparisons).
  std::unique_ptr<client::Transport> local_raw() const {
    auto t = client::UnixTransport::connect(daemon->socket());
    t->send(json{{"type", "hello"}, {"protocol", 1}}.dump());
    EXPECT_TRUE(t->receive(client::deadline_in(10000)));
    return t;
  }
  // An event's text from `"session":` on: what follows the per-connection subscription id.
  static std::string after_subscription(const std::string& event) {
    size_t at = event.find(R"(,"session":)");
    return at == std::string::npos ? event : event.substr(at);
  }
  int port = 0;
  std::string tls;
  std::string token;
};

TEST_F(GrpcClient, ConnectionSaysHelloListsSessionsAndASubscriptionResumesAfterTheStreamIsKilled) {
  auto c = connect();
  EXPECT_EQ(c->server_hello().value("type", ""), "hello");
  EXPECT_EQ(c->server_hello().value("protocol", 0), 1);
  EXPECT_NE(c->server_hello().value("server", "").find("via grpc"), std::string::npos) << c->server_hello();
  EXPECT_EQ(c->transport().endpoint(), "grpcs://localhost:" + std::to_string(port));
  EXPECT_EQ(dynamic_cast<client::GrpcTransport&>(c->transport()).identity(), "token:laptop");
  EXPECT_TRUE(c->request("session.list")["sessions"].empty());
  try {
    c->request("token.create", {{"name", "x"}});  // remote clients cannot mint tokens
    ADD_FAILURE() << "token.create over gRPC was served";
  } catch (const client::RequestFailed& e) {
    EXPECT_EQ(e.code, "forbidden") << e.what();
  }

  std::string id = c->request("session.new", {{"cwd", daemon->project()}, {"prompt", "deltas: 60"}})["id"];
  auto sessions = c->request("session.list")["sessions"];
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0]["id"], id);

  int connects = 0;
  auto connector = [&] {
    ++connects;
    return connect();
  };
  client::SubscriptionOptions so;
  so.session = id;
  so.retry_interval = std::chrono::milliseconds(100);
  client::Subscription sub(connector, std::move(c), so);
  std::vector<uint64_t> resumed_at;
  sub.on_lost([&](uint64_t at) { resumed_at.push_back(at); });
  std::vector<client::Event> seen;
  bool killed = false;
  for (;;) {
    auto ev = sub.next(client::deadline_in(60000));
    ASSERT_TRUE(ev) << "no result within 60 s";
    ASSERT_EQ(ev->seq, seen.size() + 1) << "gap or duplicate";
    seen.push_back(*ev);
    if (!killed && ev->seq == 12) {
      sub.connection().transport().close();  // the stream is cancelled mid-turn
      killed = true;
    }
    if (ev->kind() == "result") break;
  }
  ASSERT_TRUE(killed) << "the turn ended before seq 12";
  EXPECT_EQ(resumed_at, std::vector<uint64_t>{13});
  EXPECT_EQ(connects, 1);

  // What came over gRPC is what the local socket sends, byte for byte (but the
  // subscription id, which each connection has its own of).
  auto local = local_raw();
  local->send(json{{"type", "request"}, {"id", 1}, {"method", "subscribe"}, {"params", {{"session", id}}}}.dump());
  std::vector<std::string> replay;
  while (replay.size() < seen.size()) {
    auto m = local->receive(client::deadline_in(10000));
    ASSERT_TRUE(m) << "replay stopped at " << replay.size();
    if (m->rfind(R"({"type":"event")", 0) == 0) replay.push_back(*m);
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].raw.rfind(R"({"type":"event","subscription":)", 0), 0u) << seen[i].raw;
    EXPECT_EQ(after_subscription(seen[i].raw), after_subscription(replay[i])) << "event " << i + 1;
  }
}

TEST_F(GrpcClient, ResponsesAndErrorsAreTheTextTheLocalSocketSends) {
  auto g = connect();
  auto local = local_raw();
  // A string id comes back as it was sent; results and errors in the daemon's own text.
  for (const json& req : {json{{"type", "request"}, {"id", "a-1"}, {"method", "approvals.list"}, {"params", {{"all", true}}}},
                          json{{"type", "request"}, {"id", 7}, {"method", "session.get"}, {"params", {{"session", "s-none"}}}},
                          json{{"type", "request"}, {"id", 8}, {"method", "no.such.method"}},
                          json{{"type", "request"}, {"id", 9}, {"method", "approvals.list"}, {"params", 3}},
                          json{{"type", "nonsense"}}}) {
    g->transport().send(req.dump());
    local->send(req.dump());
    auto over_grpc = g->next_raw(10000);
    auto over_socket = local->receive(client::deadline_in(10000));
    ASSERT_TRUE(over_grpc && over_socket) << req;
    EXPECT_EQ(*over_grpc, *over_socket) << req;
  }

  // Protocol check and hello_required, worded as the daemon words them.
  auto fresh = [&] { return client::GrpcTransport::connect(options()); };
  auto raw_local = [&] { return client::UnixTransport::connect(daemon->socket()); };
  for (const std::string& first : {json{{"type", "hello"}, {"protocol", 99}}.dump(),
                                   json{{"type", "request"}, {"id", 1}, {"method", "ping"}}.dump(), std::string("[1,2]")}) {
    auto t = fresh();
    auto u = raw_local();
    t->send(first);
    u->send(first);
    auto a = t->receive(client::deadline_in(10000));
    auto b = u->receive(client::deadline_in(10000));
    ASSERT_TRUE(a && b) << first;
    EXPECT_EQ(*a, *b) << first;
  }
  auto t = fresh();
  t->send(json{{"type", "hello"}, {"protocol", 99}}.dump());
  EXPECT_NE(t->receive(client::deadline_in(10000))->find("protocol_mismatch"), std::string::npos);
}

TEST_F(GrpcClient, AnApprovalIsWatchedAndAnsweredOverGrpc) {
  auto c = connect(/*watch_approvals=*/true);
  json pending = next_of_type(*c, "approvals", 10000);
  ASSERT_TRUE(pending.is_object()) << "no pending list after hello with watch_approvals";
  EXPECT_TRUE(pending["pending"].empty());

  std::string file = daemon->project() + "/over-grpc.txt";
  std::string id = c->request("session.new", {{"cwd", daemon->project()}, {"prompt", bash("touch " + file)}})["id"];
  json asked = next_of_type(*c, "approval_requested");
  ASSERT_TRUE(asked.is_object()) << "no approval_requested within 60 s";
  EXPECT_EQ(asked["approval"]["session"], id);
  EXPECT_EQ(asked["approval"]["tool"], "Bash");
  EXPECT_EQ(asked["approval"]["input"]["command"], "touch " + file);
  std::string approval = asked["approval"]["id"];
  EXPECT_FALSE(std::filesystem::exists(file));

  auto r = c->request("approval.answer", {{"id", approval}, {"decision", "allow"}, {"by", "laptop"}});
  EXPECT_EQ(r["status"], "resolved");
  json resolved = next_of_type(*c, "approval_resolved");
  ASSERT_TRUE(resolved.is_object());
  EXPECT_EQ(resolved["approval"]["id"], approval);
  EXPECT_EQ(resolved["approval"]["decision"], "allow");
  EXPECT_NE(resolved["approval"].value("decided_by", "").find("grpc:token:laptop@127.0.0.1"), std::string::npos) << resolved;

  client::SubscriptionOptions so;
  so.session = id;
  so.reconnect = false;
  client::Subscription sub([&] { return connect(); }, std::move(c), so);
  for (;;) {
    auto ev = sub.next(client::deadline_in(60000));
    ASSERT_TRUE(ev) << "no result within 60 s";
    if (ev->kind() == "result") break;
  }
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(GrpcClient, RefusedConnectionsSayWhy) {
  auto o = options();
  o.token = "ccmux_not-a-token";
  auto bad = refusal(o);
  EXPECT_EQ(bad.reason, client::ConnectFailure::handshake) << bad.what();
  EXPECT_NE(std::string(bad.what()).find("UNAUTHENTICATED"), std::string::npos) << bad.what();

  o = options();
  o.token.clear();
  auto none = refusal(o);
  EXPECT_EQ(none.reason, client::ConnectFailure::handshake) << none.what();
  EXPECT_NE(std::string(none.what()).find("UNAUTHENTICATED"), std::string::npos) << none.what();

  // A server certificate from another CA, and a name it was not made for.
  CertRequest other;
  other.dir = dir.path + "/other-ca";
  other.dns_names = {"localhost"};
  make_local_ca_and_server_cert(other);
  o = options();
  o.ca_file = other.dir + "/ca.crt";
  auto wrong_ca = refusal(o);
  EXPECT_EQ(wrong_ca.reason, client::ConnectFailure::handshake) << wrong_ca.what();
  o = options();
  o.address = "127.0.0.1:" + std::to_string(port);
  o.server_name = "build-box.example";
  auto wrong_name = refusal(o);
  EXPECT_EQ(wrong_name.reason, client::ConnectFailure::handshake) << wrong_name.what();
  o.server_name = "localhost";  // the override: the address is an IP, the certificate's name is checked
  EXPECT_NO_THROW(client::GrpcTransport::connect(o));

  o = options();
  o.tls = false;  // plain text to a TLS port
  auto plain = refusal(o);
  EXPECT_EQ(plain.reason, client::ConnectFailure::handshake) << plain.what();
  EXPECT_NE(std::string(plain.what()).find("TLS"), std::string::npos) << plain.what();

  o = options();
  o.ca_file = dir.path + "/missing.crt";
  auto unreadable = refusal(o);
  EXPECT_EQ(unreadable.reason, client::ConnectFailure::other) << unreadable.what();
  EXPECT_NE(std::string(unreadable.what()).find("missing.crt"), std::string::npos) << unreadable.what();

  o = options();
  o.address = "localhost:" + std::to_string(free_tcp_port());  // nothing listens there
  auto down = refusal(o);
  EXPECT_EQ(down.reason, client::ConnectFailure::not_running) << down.what();
}

// mTLS: the client certificate reaches the server. One signed by the machine's CA but never
// issued (`ccmux certs issue` records the ones it makes) is checked and refused by name; one
// from another CA is refused by TLS itself.
TEST_F(GrpcClient, AClientCertificateIsPresentedAndCheckedByTheServer) {
  auto sign = [&](const std::string& ca_dir, const std::string& name) {
    std::string key = dir.path + "/" + name + ".key", csr = dir.path + "/" + name + ".csr", crt = dir.path + "/" + name + ".crt";
    std::string out;
    EXPECT_EQ(run_command({"/usr/bin/openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                           key, "-subj", "/CN=" + name, "-out", csr}, &out), 0) << out;
    EXPECT_EQ(run_command({"/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA", ca_dir + "/ca.crt", "-CAkey", ca_dir + "/ca.key",
                           "-set_serial", "4242", "-days", "30", "-out", crt}, &out), 0) << out;
    return std::make_pair(crt, key);
  };
  auto o = options();
  o.token.clear();
  std::tie(o.cert_file, o.key_file) = sign(tls, "desk");
  auto unknown = refusal(o);
  EXPECT_EQ(unknown.reason, client::ConnectFailure::handshake) << unknown.what();
  EXPECT_NE(std::string(unknown.what()).find("UNAUTHENTICATED: client certificate"), std::string::npos) << unknown.what();

  CertRequest other;
  other.dir = dir.path + "/other-ca";
  other.dns_names = {"localhost"};
  make_local_ca_and_server_cert(other);
  std::tie(o.cert_file, o.key_file) = sign(other.dir, "stranger");
  auto stranger = refusal(o);
  EXPECT_EQ(stranger.reason, client::ConnectFailure::handshake) << stranger.what();
  EXPECT_EQ(std::string(stranger.what()).find("UNAUTHENTICATED"), std::string::npos) << "TLS let it through: " << stranger.what();

  o.key_file.clear();
  auto half = refusal(o);
  EXPECT_EQ(half.reason, client::ConnectFailure::other) << half.what();
}

TEST_F(GrpcClient, AStreamThatBreaksIsDisconnectedAndWakesPoll) {
  auto c = connect();
  int fd = c->fd();
  ASSERT_GE(fd, 0);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "readable with nothing to read";
  EXPECT_FALSE(c->has_buffered());
  c->transport().send(json{{"type", "request"}, {"id", 1}, {"method", "ping"}}.dump());
  p.revents = 0;
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "no wake-up for the response";
  EXPECT_TRUE(c->has_buffered());
  EXPECT_EQ(json::parse(*c->next_raw(0))["result"]["pong"], true);
  p.revents = 0;
  EXPECT_EQ(poll(&p, 1, 0), 0) << "still readable after the only message was taken";

  daemon->kill9();
  p.revents = 0;
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "the broken stream did not wake poll()";
  EXPECT_THROW(c->next(client::deadline_in(10000)), client::Disconnected);
  EXPECT_THROW(c->request("ping"), client::Disconnected);
}

// The scripted fake claude: big and many events, fast.
class GrpcClientFakeClaude : public GrpcClient {
 protected:
  DaemonOptions base_options() const override {
    DaemonOptions o;
    o.claude_path = fake_claude_path();
    return o;
  }
  // The session's events from seq 1 through its result, over `c` (already subscribed).
  static std::vector<client::Event> until_result(client::Subscription& sub) {
    std::vector<client::Event> out;
    for (;;) {
      auto ev = sub.next(client::deadline_in(30000));
      if (!ev) break;
      out.push_back(std::move(*ev));
      if (out.back().kind() == "result") break;
    }
    return out;
  }
};

TEST_F(GrpcClientFakeClaude, AnEventOverGrpcsDefault4MiBMessageLimitArrivesWhole) {
  auto local = daemon->connect();
  std::string id = local->request("session.new", {{"cwd", daemon->project()}, {"prompt", "bigline please"}})["id"];
  client::SubscriptionOptions so;
  so.session = id;
  so.reconnect = false;
  client::Subscription sub([&] { return connect(); }, nullptr, so);
  auto got = until_result(sub);
  ASSERT_FALSE(got.empty());
  ASSERT_EQ(got.back().kind(), "result");
  size_t big = 0;
  for (auto& e : got)
    if (e.kind() == "assistant") big = e.payload()["message"]["content"][0]["text"].get<std::string>().size();
  EXPECT_EQ(big, 5u << 20);
}

TEST_F(GrpcClientFakeClaude, ACallerThatStopsReceivingHoldsBoundedMemoryAndLosesNothing) {
  auto local = daemon->connect();
  std::string id = local->request("session.new", {{"cwd", daemon->project()}, {"prompt", "flood 40 512"}})["id"];
  EventLog log(*local, id);
  ASSERT_TRUE(log.wait_kind("result", 60000));  // 40 events of 512 KiB stored: 20 MiB to replay

  auto o = options();
  o.inbox_bytes = 1u << 20;
  auto t = client::GrpcTransport::connect(o);
  auto* transport = t.get();
  auto c = std::make_unique<client::Connection>(std::move(t));
  c->request("subscribe", {{"session", id}, {"from_seq", 1}});
  std::this_thread::sleep_for(std::chrono::seconds(2));  // not receiving
  size_t held = transport->buffered_bytes();
  EXPECT_GE(held, 512u << 10) << "nothing arrived while we did not read";
  EXPECT_LE(held, (1u << 20) + (600u << 10)) << "the inbox grew past its bound";

  client::SubscriptionOptions so;
  so.session = id;
  so.reconnect = false;
  client::Subscription sub([&] { return connect(); }, std::move(c), so);
  auto got = until_result(sub);
  ASSERT_EQ(got.size(), log.events().size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].seq, i + 1) << "gap or duplicate";
    EXPECT_EQ(got[i].msg["payload"], log.events()[i]["payload"]) << "event " << i + 1;
  }
}

}  // namespace
