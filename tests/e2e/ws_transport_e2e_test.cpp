// transport-ws over real sockets: auth, rate limits, revocation, replay across reconnects,
// slow clients, bad frames, static files, /metrics, origins and TLS. Sessions run the real
// claude CLI against the fake Messages API unless a test needs a firehose (fake claude).
#include "e2e.h"
#include "ws_client.h"

#include <ccmux/client/subscription.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {

struct WsSetup {
  std::string keys;              // extra plugin keys, YAML lines indented by 4
  bool fake_claude = false;
};

class WsE2E : public E2E {
 protected:
  void SetUp() override {}  // each test starts the daemon with its own plugin keys
  // static_root: empty for the page in the source tree.
  // claude_keys: more "key: value" lines in the claude section.
  void start_ws(const WsSetup& s = {}, const std::string& static_root = "", const std::vector<std::string>& claude_keys = {}) {
    port = free_tcp_port();
    DaemonOptions o;
    if (s.fake_claude) o.claude_path = fake_claude_path();
    o.claude_keys = claude_keys;
    o.extra_yaml = "plugins:\n  - name: transport-ws\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                   "    port: " + std::to_string(port) + "\n    static_root: " +
                   (static_root.empty() ? source_dir() + "/plugins/transport-ws/web" : static_root) + "\n" + s.keys;
    start(o);
    local = daemon->connect();
    token = local->request("token.create", {{"name", "phone"}})["token"];
  }
  std::unique_ptr<WsClient> login(const std::string& tok) {
    auto c = std::make_unique<WsClient>(port);
    EXPECT_TRUE(c->login(tok));
    return c;
  }
  // Reads events of `session` until `pred`; returns them (other messages are skipped).
  static std::vector<json> events_until(WsClient& c, const std::function<bool(const json&)>& pred, int timeout_ms = 60000) {
    std::vector<json> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = c.recv_json(1000);
      if (!m) {
        if (c.closed()) break;
        continue;
      }
      if ((*m)["type"] != "event") continue;
      out.push_back(*m);
      if (pred(*m)) break;
    }
    return out;
  }
  int port = 0;
  std::unique_ptr<Client> local;
  std::string token;
};

WsOptions with_recv_buffer(int bytes) {
  WsOptions o;
  o.recv_buffer = bytes;
  return o;
}
WsOptions with_origin(const std::string& origin) {
  WsOptions o;
  o.origin = origin;
  return o;
}
WsOptions from_address(const std::string& address) {
  WsOptions o;
  o.bind_address = address;
  return o;
}
WsOptions with_tls(const std::string& ca_file) {
  WsOptions o;
  o.tls = true;
  o.ca_file = ca_file;
  return o;
}

// VmRSS or VmHWM (peak) of a process in KiB.
long proc_kb(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

// A plain TCP connection to 127.0.0.1:port (for HTTP requests sent by hand), or -1.
int tcp_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True once the server closed `fd` (EOF or reset) within `timeout_ms`; what it sent lands in `got`.
bool closed_within(int fd, int timeout_ms, std::string* got = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return true;
    if (r > 0 && got) got->append(buf, static_cast<size_t>(r));
  }
  return false;
}

}  // namespace

TEST_F(WsE2E, EverySocketMustAuthenticateFirst) {
  start_ws({"    auth_timeout_s: 1\n"});
  WsClient a(port);
  a.send_json({{"type", "hello"}, {"protocol", 1}});
  auto err = a.recv_json();
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["code"], "auth_required");
  EXPECT_FALSE(a.recv(5000));
  EXPECT_EQ(a.close_code(), 4001);

  WsClient odd(port);  // an auth message of the wrong shape is not an auth message
  odd.send_json({{"type", 1}, {"token", 2}});
  auto oe = odd.recv_json();
  ASSERT_TRUE(oe);
  EXPECT_EQ((*oe)["code"], "auth_required");

  WsClient silent(port);  // says nothing: closed after auth_timeout_s
  auto t0 = std::chrono::steady_clock::now();
  auto m = silent.recv_json(5000);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)["code"], "auth_required");
  EXPECT_FALSE(silent.recv(5000));
  EXPECT_EQ(silent.close_code(), 4001);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));

  auto ok = login(token);  // the right token works and the protocol starts with hello
  EXPECT_TRUE(ok->request("ping")["result"]["pong"].get<bool>());
}

TEST_F(WsE2E, FailedLoginsAreRateLimitedPerAddressAndLoggedWithoutSecrets) {
  start_ws({"    auth_max_failures: 3\n    auth_window_s: 30\n"});
  const std::string wrong = "ccmux_wrong-token-value-that-must-not-be-logged";
  for (int i = 0; i < 3; ++i) {
    WsClient c(port);
    c.send_json({{"type", "auth"}, {"token", wrong}});
    auto e = c.recv_json();
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["code"], "auth_failed");
    EXPECT_FALSE(c.recv(5000));
    EXPECT_EQ(c.close_code(), 4003);
  }
  // Now even the right token is refused from this address until the window passes.
  WsClient c(port);
  c.send_json({{"type", "auth"}, {"token", token}});
  auto e = c.recv_json();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["code"], "rate_limited");
  EXPECT_GT((*e)["retry_after_s"].get<int>(), 20);
  EXPECT_FALSE(c.recv(5000));
  EXPECT_EQ(c.close_code(), 4029);
  // /metrics logins count against the same address too.
  EXPECT_EQ(http_get(port, "/metrics", token).status, 429);

  std::string log = daemon->log();
  EXPECT_NE(log.find("failed login from 127.0.0.1"), std::string::npos) << log;
  EXPECT_NE(log.find("refused: too many failures"), std::string::npos);
  EXPECT_EQ(log.find(wrong), std::string::npos) << "a token reached the log";
  EXPECT_EQ(log.find(token), std::string::npos) << "a token reached the log";
}

TEST_F(WsE2E, RevokingATokenClosesItsConnections) {
  start_ws();
  auto c = login(token);
  auto other_token = local->request("token.create", {{"name", "laptop"}})["token"].get<std::string>();
  auto other = login(other_token);
  // Remote clients cannot mint tokens for themselves.
  EXPECT_EQ(c->request("token.create", {{"name", "x"}})["error"]["code"], "forbidden");
  EXPECT_TRUE(local->request("token.revoke", {{"name", "phone"}})["revoked"].get<bool>());
  auto m = c->recv_json();
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)["code"], "token_revoked");
  EXPECT_FALSE(c->recv(5000));
  EXPECT_EQ(c->close_code(), 4003);
  EXPECT_TRUE(other->request("ping")["result"]["pong"].get<bool>());  // other tokens unaffected
  WsClient again(port);
  EXPECT_FALSE(again.login(token));
}

TEST_F(WsE2E, ReconnectResumesFromLastSeqWithNoGapAndNoDuplicate) {
  start_ws();
  auto a = login(token);
  auto s = a->request("session.new", {{"cwd", daemon->project()}, {"prompt", "deltas: 60"}})["result"];
  std::string id = s["id"];
  a->request("subscribe", {{"session", id}, {"from_seq", 1}});
  // Take part of the stream, then drop the connection mid-turn.
  auto first = events_until(*a, [](const json& e) { return e["seq"].get<uint64_t>() >= 12; });
  ASSERT_FALSE(first.empty());
  uint64_t last = first.back()["seq"];
  a.reset();
  auto b = login(token);
  b->request("subscribe", {{"session", id}, {"from_seq", last + 1}});
  auto rest = events_until(*b, [](const json& e) { return e["kind"] == "result"; });
  ASSERT_FALSE(rest.empty());
  ASSERT_EQ(rest.back()["kind"], "result");
  std::vector<json> seen = first;
  seen.insert(seen.end(), rest.begin(), rest.end());
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i]["seq"].get<uint64_t>(), i + 1) << "gap or duplicate";
  // And what it saw equals a full replay from the store.
  auto c = login(token);
  c->request("subscribe", {{"session", id}, {"from_seq", 1}});
  auto replay = events_until(*c, [&](const json& e) { return e["seq"] == seen.back()["seq"]; });
  ASSERT_EQ(replay.size(), seen.size());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(replay[i]["payload"], seen[i]["payload"]);
}

// The client library over WebSocket: the token step, hello, typed errors and a Subscription,
// the same Connection the CLI uses over the local socket.
TEST_F(WsE2E, ClientLibraryConnectionWorksOverTheWebSocketTransport) {
  start_ws();
  client::WsOptions o;
  o.port = port;
  o.token = token;
  auto connect = [&] { return std::make_unique<client::Connection>(client::WsTransport::connect(o)); };
  auto c = connect();
  EXPECT_EQ(c->server_hello().value("type", ""), "hello");
  EXPECT_EQ(c->transport().endpoint(), "ws://127.0.0.1:" + std::to_string(port) + "/ws");
  try {
    c->request("token.create", {{"name", "x"}});  // remote clients cannot mint tokens
    ADD_FAILURE() << "token.create over WebSocket was served";
  } catch (const client::RequestFailed& e) {
    EXPECT_EQ(e.code, "forbidden");
  }
  std::string id = c->request("session.new", {{"cwd", daemon->project()}, {"prompt", "deltas: 20"}})["id"];
  client::SubscriptionOptions so;
  so.session = id;
  client::Subscription sub(connect, std::move(c), so);
  uint64_t expect = 1;
  for (;;) {
    auto ev = sub.next(client::deadline_in(60000));
    ASSERT_TRUE(ev) << "no result within 60 s";
    ASSERT_EQ(ev->seq, expect++) << "gap or duplicate";
    if (ev->kind() == "result") break;
  }

  o.token = "ccmux_not-a-token";
  try {
    client::WsTransport::connect(o);
    ADD_FAILURE() << "a wrong token connected";
  } catch (const client::ConnectError& e) {
    EXPECT_EQ(e.reason, client::ConnectFailure::handshake) << e.what();
  }
  o.port = free_tcp_port();  // nothing listens there
  try {
    client::WsTransport::connect(o);
    ADD_FAILURE() << "connected to a closed port";
  } catch (const client::ConnectError& e) {
    EXPECT_EQ(e.reason, client::ConnectFailure::not_running) << e.what();
  }
}

TEST_F(WsE2E, PendingApprovalIsStillThereAfterAReconnectAndIsAnsweredOnce) {
  start_ws();
  auto a = login(token);
  std::string file = daemon->project() + "/from-phone.txt";
  auto s = a->request("session.new", {{"cwd", daemon->project()}, {"prompt", bash("touch " + file)}})["result"];
  std::string id = s["id"];
  a->request("subscribe", {{"session", id}});
  auto upto = events_until(*a, [](const json& e) { return e["kind"] == "approval_requested"; });
  ASSERT_FALSE(upto.empty());
  ASSERT_EQ(upto.back()["kind"], "approval_requested");
  std::string approval = upto.back()["payload"]["id"];
  a.reset();  // the phone locks

  auto b = login(token);
  auto pending = b->request("approvals.list")["result"]["approvals"];
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0]["id"], approval);
  EXPECT_EQ(pending[0]["tool"], "Bash");
  auto r = b->request("approval.answer", {{"id", approval}, {"decision", "allow"}, {"by", "phone"}})["result"];
  EXPECT_EQ(r["status"], "resolved");
  auto again = b->request("approval.answer", {{"id", approval}, {"decision", "deny"}})["result"];
  EXPECT_EQ(again["status"], "already_resolved");
  b->request("subscribe", {{"session", id}, {"from_seq", upto.back()["seq"].get<uint64_t>() + 1}});
  auto rest = events_until(*b, [](const json& e) { return e["kind"] == "result"; });
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back()["kind"], "result");
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(WsE2E, SlowClientIsClosedWithAReasonWhileAFastOneGetsEverything) {
  start_ws({"    send_queue_bytes: 1048576\n    slow_client_timeout_s: 2\n", true});
  auto fast = login(token);
  WsClient slow(port, with_recv_buffer(4096));
  ASSERT_TRUE(slow.login(token));
  auto s = fast->request("session.new", {{"cwd", daemon->project()}})["result"];
  std::string id = s["id"];
  slow.request("subscribe", {{"session", id}});
  fast->request("subscribe", {{"session", id}});
  // ~19 MB of events: far more than the slow client's queue plus the kernel's buffers.
  fast->request("session.send", {{"session", id}, {"prompt", "flood 300 64"}});
  // The fast client's 1 MiB queue fills many times over: it is paused and fed from the
  // store each time, and gets every event in order.
  auto got = events_until(*fast, [](const json& e) { return e["kind"] == "result"; }, 60000);
  for (size_t i = 1; i < got.size(); ++i) ASSERT_EQ(got[i]["seq"].get<uint64_t>(), got[i - 1]["seq"].get<uint64_t>() + 1);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the slow one stays stuck past slow_client_timeout_s
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back()["kind"], "result");
  size_t assistant = 0;
  for (auto& e : got) assistant += e["kind"] == "assistant";
  EXPECT_EQ(assistant, 300u);
  // The slow one reads what it was sent: an unbroken prefix, then the close with 4008.
  auto prefix = events_until(slow, [](const json&) { return false; }, 30000);
  EXPECT_TRUE(slow.closed());
  EXPECT_EQ(slow.close_code(), 4008) << slow.close_reason();
  ASSERT_FALSE(prefix.empty());
  for (size_t i = 0; i < prefix.size(); ++i) ASSERT_EQ(prefix[i]["seq"].get<uint64_t>(), i + 1);
  ASSERT_LT(prefix.size(), got.size());
  // It comes back and replays from where it stopped.
  auto again = login(token);
  again->request("subscribe", {{"session", id}, {"from_seq", prefix.back()["seq"].get<uint64_t>() + 1}});
  auto rest = events_until(*again, [&](const json& e) { return e["seq"] == got.back()["seq"]; });
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front()["seq"].get<uint64_t>(), prefix.back()["seq"].get<uint64_t>() + 1);
  EXPECT_EQ(rest.back()["seq"], got.back()["seq"]);
  EXPECT_NE(daemon->log().find("too slow"), std::string::npos);
}

TEST_F(WsE2E, OversizedMalformedAndBinaryFramesGetErrorsAndTheDaemonStaysUp) {
  start_ws({"    max_message_bytes: 65536\n", true});
  auto c = login(token);
  c->send("{not json");
  auto bad = c->recv_json();
  ASSERT_TRUE(bad);
  EXPECT_EQ((*bad)["code"], "bad_message") << bad->dump();
  EXPECT_TRUE(c->request("ping")["result"]["pong"].get<bool>());  // still connected

  c->send(std::string(100000, 'x'));
  auto big = c->recv_json();
  ASSERT_TRUE(big);
  EXPECT_EQ((*big)["code"], "message_too_large");
  EXPECT_FALSE(c->recv(5000));
  EXPECT_EQ(c->close_code(), 1009);

  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  auto d = login(token);
  EXPECT_TRUE(d->request("ping")["result"]["pong"].get<bool>());
  EXPECT_TRUE(local->request("ping")["pong"].get<bool>());
}

// Issue 10 item 2: a field of the wrong JSON type used to throw inside the daemon; over
// WebSocket the exception was swallowed and the client never got an answer.
TEST_F(WsE2E, WrongJsonTypesAreAnsweredOverWebSocketAndTheConnectionGoesOn) {
  start_ws({"", true});
  auto c = login(token);
  c->send(R"({"type":5})");
  auto e = c->recv_json(5000);
  ASSERT_TRUE(e) << "no answer to {\"type\":5}";
  EXPECT_EQ((*e)["code"], "bad_message") << e->dump();
  EXPECT_NE((*e).value("message", "").find("'type' must be a string"), std::string::npos) << e->dump();
  c->send(R"({"type":"request","id":"m","method":5})");
  e = c->recv_json(5000);
  ASSERT_TRUE(e) << "no answer to a request whose method is a number";
  EXPECT_EQ((*e)["id"], "m") << e->dump();
  EXPECT_EQ((*e)["error"]["code"], "bad_message") << e->dump();
  json r = c->request("session.new", {{"cwd", 5}}, 5000);
  EXPECT_EQ(r["error"]["code"], "bad_params") << r.dump();
  EXPECT_EQ(r["error"]["message"], "parameter 'cwd' must be a string") << r.dump();
  r = c->request("approvals.list", {{"all", true}, {"limit", "ten"}}, 5000);
  EXPECT_EQ(r["error"]["code"], "bad_params") << r.dump();
  EXPECT_FALSE(c->closed());
  EXPECT_TRUE(c->request("ping")["result"]["pong"].get<bool>());  // the same connection goes on
  EXPECT_TRUE(local->request("ping")["pong"].get<bool>());
}

// JSON nested 100k deep after login: nlohmann parses it, but copying or dumping it overflowed
// the daemon's stack. Too deep is a malformed message: bad_message, and the connection goes on.
TEST_F(WsE2E, ADeepMessageOverWebSocketIsABadMessageAndTheConnectionGoesOn) {
  start_ws();
  auto c = login(token);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const std::string& msg : {deep, R"({"type":"request","id":)" + deep + R"(,"method":"ping"})"}) {
    c->send(msg);
    auto e = c->recv_json(10000);
    ASSERT_TRUE(e) << "no answer to a deep message; closed " << c->close_code() << " " << c->close_reason();
    EXPECT_EQ((*e)["code"], "bad_message") << e->dump().substr(0, 300);
    EXPECT_NE(e->value("message", "").find("nested deeper than 256"), std::string::npos) << e->dump().substr(0, 300);
    EXPECT_TRUE(c->request("ping", json::object(), 10000)["result"]["pong"].get<bool>());
  }
  EXPECT_TRUE(local->request("ping")["pong"].get<bool>());
}

// Issue 10 item 10: every stored event reaches a WebSocket client, including one bigger than
// the client's send queue (send_queue_bytes, 1 MiB by default): it used to be closed (4008)
// whenever anything else was queued, and so again at every reconnect.
TEST_F(WsE2E, AnEventBiggerThanTheSendQueueIsDeliveredInAReplayAndLive) {
  start_ws({"", true});
  std::string id = local->request("session.new", {{"cwd", daemon->project()}, {"prompt", "bigline please"}})["id"];
  auto c = login(token);
  json sub = c->request("subscribe", {{"session", id}, {"from_seq", 1}});
  ASSERT_TRUE(sub.contains("result")) << sub.dump();
  auto got = events_until(*c, [](const json& e) { return e["kind"] == "result"; }, 30000);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back()["kind"], "result") << "closed " << c->close_code() << " " << c->close_reason();
  size_t big = 0;
  for (auto& e : got)
    if (e["kind"] == "assistant") big = e["payload"]["message"]["content"][0]["text"].get<std::string>().size();
  EXPECT_EQ(big, 5u << 20);
  // A replay from seq 1 on a new connection gets it too.
  auto d = login(token);
  d->request("subscribe", {{"session", id}, {"from_seq", 1}});
  auto again = events_until(*d, [](const json& e) { return e["kind"] == "result"; }, 30000);
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again.back()["kind"], "result") << "closed " << d->close_code() << " " << d->close_reason();
  EXPECT_EQ(again.size(), got.size());
}

// An event over claude.max_event_bytes reaches a WebSocket client as stored: cut, with
// ccmux_truncated; the whole of it comes through event.payload on the same connection.
TEST_F(WsE2E, AnEventOverTheLimitArrivesCutAndItsWholePayloadCanBeFetched) {
  start_ws({"", true}, "", {"max_event_bytes: 65536"});
  std::string id = local->request("session.new", {{"cwd", daemon->project()}, {"prompt", "hugeline 3000000"}})["id"];
  auto c = login(token);
  c->request("subscribe", {{"session", id}, {"from_seq", 1}});
  auto got = events_until(*c, [](const json& e) { return e["kind"] == "result"; }, 30000);
  ASSERT_FALSE(got.empty());
  ASSERT_EQ(got.back()["kind"], "result") << "closed " << c->close_code() << " " << c->close_reason();
  json cut;
  for (auto& e : got)
    if (e["kind"] == "assistant") cut = e;
  ASSERT_TRUE(cut["payload"].contains("ccmux_truncated")) << cut.dump().substr(0, 500);
  EXPECT_EQ(cut["payload"]["ccmux_truncated"]["bytes"], 3000000);
  EXPECT_LE(cut.dump().size(), 65536u + 512);
  json r = c->request("event.payload", {{"session", id}, {"seq", cut["seq"]}, {"offset", 0}, {"length", 4 << 20}}, 20000);
  ASSERT_TRUE(r.contains("result")) << r.dump().substr(0, 500) << " closed " << c->close_code();
  EXPECT_EQ(r["result"]["bytes"], 3000000);
  EXPECT_EQ(r["result"]["data"].get<std::string>().size(), 4000000u);  // base64 of 3 MB: bigger than the 1 MiB send queue
  EXPECT_TRUE(c->request("ping")["result"]["pong"].get<bool>());
}

TEST_F(WsE2E, StaticFilesAreServedOnlyFromTheRootWithTypesAndCacheHeaders) {
  start_ws();
  std::filesystem::create_directories(dir.path + "/secret");
  write_file(dir.path + "/secret/token.txt", "TOP-SECRET");
  auto index = http_get(port, "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.content_type.find("text/html"), std::string::npos);
  EXPECT_NE(index.body.find("<html"), std::string::npos);
  EXPECT_NE(index.cache_control.find("max-age"), std::string::npos) << index.cache_control;
  auto js = http_get(port, "/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_NE(js.content_type.find("javascript"), std::string::npos) << js.content_type;
  EXPECT_NE(http_get(port, "/app.css").content_type.find("text/css"), std::string::npos);
  EXPECT_EQ(http_get(port, "/no-such-file.js").status, 404);
  std::string rel = std::filesystem::relative(dir.path + "/config.yaml", source_dir() + "/plugins/transport-ws/web").string();
  for (const std::string& target : std::vector<std::string>{"/../config.yaml", "/%2e%2e/config.yaml", "/..%2fconfig.yaml", "/a/../../config.yaml",
                             "/%2e%2e%2f%2e%2e%2fetc/passwd", "/" + rel, "/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd"}) {
    auto r = http_get(port, target);
    EXPECT_NE(r.status, 200) << target;
    EXPECT_EQ(r.body.find("state_dir"), std::string::npos) << target;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
  }
}

TEST_F(WsE2E, HealthzAndMetricsWithABearerToken) {
  start_ws();
  auto h = http_get(port, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  EXPECT_EQ(http_get(port, "/metrics").status, 401);
  EXPECT_EQ(http_get(port, "/metrics", "ccmux_nope").status, 401);
  auto c = login(token);
  auto s = c->request("session.new", {{"cwd", daemon->project()}, {"prompt", "echo: metered"}})["result"];
  c->request("subscribe", {{"session", s["id"]}});
  ASSERT_FALSE(events_until(*c, [](const json& e) { return e["kind"] == "result"; }).empty());
  auto m = http_get(port, "/metrics", token);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_NE(m.content_type.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(m.body.find("ccmux_sessions{state=\"idle\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ccmux_sessions{state=\"failed\"} 0"), std::string::npos);
  EXPECT_NE(m.body.find("ccmux_ws_connections{auth=\"yes\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ccmux_approvals_total{outcome=\"allow\"}"), std::string::npos);
  EXPECT_NE(m.body.find("ccmux_ws_auth_failures_total 1"), std::string::npos);
  EXPECT_EQ(m.body.find("ccmux_tokens_total{direction=\"output\"} 0\n"), std::string::npos) << "tokens counted";
  EXPECT_EQ(m.body.find("ccmux_cost_usd_total 0\n"), std::string::npos) << "cost counted";
}

TEST_F(WsE2E, BrowserOriginsOtherThanThePageAreRefused) {
  start_ws();
  EXPECT_ANY_THROW(WsClient(port, with_origin("http://evil.example")));
  WsClient same(port, with_origin("http://127.0.0.1:" + std::to_string(port)));
  EXPECT_TRUE(same.login(token));
  EXPECT_NE(daemon->log().find("origin 'http://evil.example' not allowed"), std::string::npos);
}

TEST_F(WsE2E, ProjectFoldersAreListedAndSessionsOutsideThemRefused) {
  start_ws();
  std::filesystem::create_directories(dir.path + "/outside");
  auto c = login(token);
  auto p = c->request("projects.list")["result"]["roots"];
  ASSERT_EQ(p.size(), 1u);
  bool listed = false;
  for (auto& f : p[0]["folders"]) listed = listed || f == daemon->project();
  EXPECT_TRUE(listed) << p.dump();
  std::filesystem::create_directory_symlink("/etc", daemon->project() + "/link");
  for (std::string cwd : {std::string("/etc"), daemon->project() + "/../../", daemon->project() + "/link"}) {
    auto r = c->request("session.new", {{"cwd", cwd}});
    ASSERT_TRUE(r.contains("error")) << cwd;
    EXPECT_EQ(r["error"]["code"], "cwd_not_allowed") << cwd << r.dump();
  }
}

TEST_F(WsE2E, TlsWithCertificatesFromCertsInit) {
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "certs", "init", "--dir", dir.path + "/tls", "--host", "127.0.0.1"}, &out), 0) << out;
  start_ws({"    tls_cert: " + dir.path + "/tls/server.crt\n    tls_key: " + dir.path + "/tls/server.key\n"});
  WsClient c(port, with_tls(dir.path + "/tls/ca.crt"));
  ASSERT_TRUE(c.login(token));
  EXPECT_TRUE(c.request("ping")["result"]["pong"].get<bool>());
  EXPECT_ANY_THROW(WsClient{port});  // plain ws:// on the TLS port does not connect
}

// Issue 10 item 9: 24 unauthenticated sockets each pushing 15 MiB of an unfinished frame took
// ccmuxd from 12 to 385 MiB. Before login a message may be a few KiB; past that the socket is
// closed, so the daemon's memory stays where it was.
TEST_F(WsE2E, UnauthenticatedUnfinishedFramesDoNotGrowTheDaemon) {
  start_ws();
  EXPECT_EQ(http_get(port, "/healthz").status, 200);  // lws and the page are warm
  const long rss_before = proc_kb(daemon->pid(), "VmRSS");
  const size_t kFrame = size_t{15} << 20;
  std::vector<std::unique_ptr<RawWs>> attackers;
  for (int i = 0; i < 24; ++i) {
    attackers.push_back(std::make_unique<RawWs>(port));
    attackers.back()->send_frame_header(kFrame);  // announced, never finished
  }
  // Round-robin 1 MiB at a time, as long as the daemon takes it (60 s at most in all).
  std::vector<size_t> pushed(attackers.size(), 0);
  std::vector<bool> stopped(attackers.size(), false);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (bool any = true; any && std::chrono::steady_clock::now() < deadline;) {
    any = false;
    for (size_t i = 0; i < attackers.size(); ++i) {
      if (stopped[i] || pushed[i] + 1 >= kFrame) continue;
      size_t want = std::min(size_t{1} << 20, kFrame - 1 - pushed[i]);
      size_t n = attackers[i]->send_payload(want, 2000);
      pushed[i] += n;
      stopped[i] = n < want;  // closed by the daemon, or it stopped reading
      any = true;
    }
  }
  const long rss_after = proc_kb(daemon->pid(), "VmRSS");
  const long peak = proc_kb(daemon->pid(), "VmHWM");
  size_t total = 0;
  for (size_t n : pushed) total += n;
  std::cout << "24 unauthenticated sockets pushed " << (total >> 10) << " KiB of unfinished frames: ccmuxd RSS "
            << rss_before << " -> " << rss_after << " KiB (peak " << peak << " KiB)\n";
  EXPECT_LT(rss_after - rss_before, 16 * 1024) << "KiB of growth";
  EXPECT_LT(peak - rss_before, 16 * 1024) << "KiB of peak growth";
  for (auto& a : attackers) EXPECT_TRUE(a->wait_closed(10000)) << "an over-size unauthenticated frame was not closed";
  EXPECT_TRUE(local->request("ping")["pong"].get<bool>());
  auto ok = login(token);
  EXPECT_TRUE(ok->request("ping")["result"]["pong"].get<bool>());
}

TEST_F(WsE2E, BeforeLoginAMessageMayBeAFewKiBAndAfterItMaxMessageBytes) {
  start_ws({"    auth_timeout_s: 2\n"});
  WsClient big(port);  // a first message far larger than any auth message
  big.send(R"({"type":"auth","token":")" + std::string(5000, 'a') + R"("})");
  auto e = big.recv_json();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["code"], "message_too_large");
  EXPECT_FALSE(big.recv(5000));
  EXPECT_EQ(big.close_code(), 1009);

  RawWs slow(port);  // starts a small frame and never finishes it: the auth timeout closes it
  slow.send_frame_header(100);
  EXPECT_EQ(slow.send_payload(10, 2000), 10u);
  EXPECT_TRUE(slow.wait_closed(15000));

  // A client may send its hello and requests right after the auth message without waiting.
  WsClient eager(port);
  eager.send_json({{"type", "auth"}, {"token", token}});
  eager.send_json({{"type", "hello"}, {"protocol", 1}, {"client", "eager"}});
  for (int i = 0; i < 50; ++i)
    eager.send_json({{"type", "request"}, {"id", 1000 + i}, {"method", "ping"}, {"params", {{"pad", std::string(8000, 'p')}}}});
  std::set<int> answered;
  for (int i = 0; i < 52; ++i) {
    auto m = eager.recv_json();
    ASSERT_TRUE(m) << "message " << i << " missing";
    if ((*m)["type"] == "response") answered.insert((*m)["id"].get<int>());
  }
  EXPECT_EQ(answered.size(), 50u);
  // Once logged in, a message far over the pre-login cap is fine.
  auto r = eager.request("ping", {{"pad", std::string(200000, 'p')}});
  EXPECT_TRUE(r["result"]["pong"].get<bool>());
}

TEST_F(WsE2E, ManyMessagesInFlightAreAllAnsweredWithinTheBufferLimit) {
  // 64 KiB of messages may wait for the daemon per connection; the socket is read again as
  // they are handled, so a burst of 400 x 16 KiB is throttled, not refused.
  start_ws({"    max_message_bytes: 65536\n"});
  auto c = login(token);
  const int n = 400;
  for (int i = 0; i < n; ++i)
    c->send_json({{"type", "request"}, {"id", 5000 + i}, {"method", "ping"}, {"params", {{"pad", std::string(16000, 'p')}}}});
  std::set<int> answered;
  while (static_cast<int>(answered.size()) < n) {
    auto m = c->recv_json(30000);
    ASSERT_TRUE(m) << answered.size() << " of " << n << " answered" << (c->closed() ? ", closed: " + c->close_reason() : "");
    if ((*m)["type"] == "response") answered.insert((*m)["id"].get<int>());
  }
  EXPECT_TRUE(c->request("ping")["result"]["pong"].get<bool>());
}

TEST_F(WsE2E, ConnectionsAreCappedPerAddressAndInTotalWith503) {
  start_ws({"    max_connections: 3\n    max_connections_per_address: 2\n"});
  auto a1 = login(token);               // authenticated or not, every WebSocket counts
  WsClient a2(port);
  EXPECT_EQ(ws_upgrade_status(port), 503);  // a third from 127.0.0.1
  WsClient b1(port, from_address("127.0.0.2"));  // another address still gets in
  EXPECT_EQ(ws_upgrade_status(port, "127.0.0.3"), 503);  // but the total is reached
  EXPECT_EQ(http_get(port, "/healthz").status, 200);     // plain HTTP is not a WebSocket
  EXPECT_TRUE(a1->request("ping")["result"]["pong"].get<bool>());
  a1.reset();  // a slot frees when a connection closes
  EXPECT_TRUE(eventually([&] { return ws_upgrade_status(port, "127.0.0.3") == 101; }));
  EXPECT_TRUE(eventually([&] {
    try {
      return WsClient(port).login(token);
    } catch (const std::exception&) {
      return false;
    }
  }));
  std::string log = daemon->log();
  EXPECT_NE(log.find("refused: 2 WebSockets already open from this address"), std::string::npos) << log;
  EXPECT_NE(log.find("refused: 3 WebSockets already open (max_connections)"), std::string::npos);
}

TEST_F(WsE2E, HttpHeadersThatAreTooLargeOrTooSlowAreDropped) {
  start_ws();
  // 16 KiB of headers: over lws' 4 KiB header space, the connection is dropped unanswered.
  int big = tcp_connect(port);
  ASSERT_GE(big, 0);
  std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(16384, 'b') + "\r\n\r\n";
  ::send(big, req.data(), req.size(), MSG_NOSIGNAL);
  std::string got;
  EXPECT_TRUE(closed_within(big, 10000, &got));
  EXPECT_EQ(got.find("200 OK"), std::string::npos) << got.substr(0, 200);
  ::close(big);
  // Slowloris: a header line every 500 ms never finishes the request; the daemon gives a
  // connection 10 s in all for its headers, not 10 s per line. One that says nothing at all
  // is closed the same way.
  int idle = tcp_connect(port);
  int slow = tcp_connect(port);
  ASSERT_GE(idle, 0);
  ASSERT_GE(slow, 0);
  auto t0 = std::chrono::steady_clock::now();
  std::string first = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  ::send(slow, first.data(), first.size(), MSG_NOSIGNAL);
  bool closed = false;
  auto deadline = t0 + std::chrono::seconds(40);
  for (int i = 0; !closed && std::chrono::steady_clock::now() < deadline; ++i) {
    std::string line = "X-Slow-" + std::to_string(i) + ": x\r\n";
    if (::send(slow, line.data(), line.size(), MSG_NOSIGNAL) < 0) closed = true;
    closed = closed || closed_within(slow, 500);
  }
  std::cout << "slow headers closed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms\n";
  EXPECT_TRUE(closed) << "a request trickling its headers was kept open for 40 s";
  EXPECT_TRUE(closed_within(idle, 10000)) << "a silent connection outlived one trickling its headers";
  ::close(slow);
  ::close(idle);
  EXPECT_EQ(http_get(port, "/healthz").status, 200);
}

// Sockets that never become WebSockets are bounded too: lws holds at most max_connections +
// 64, so a flood of silent connections waits in the kernel's backlog instead of using up
// ccmuxd's file descriptors (claude's pipes, the store) and the memory behind each.
TEST_F(WsE2E, SilentSocketsCannotUseUpTheDaemonsFileDescriptors) {
  start_ws({"    max_connections: 2\n"});
  auto fds = [&] {
    return std::distance(std::filesystem::directory_iterator("/proc/" + std::to_string(daemon->pid()) + "/fd"),
                         std::filesystem::directory_iterator{});
  };
  const auto before = fds();
  std::vector<int> socks;
  for (int i = 0; i < 150; ++i) socks.push_back(tcp_connect(port));
  EXPECT_TRUE(eventually([&] { return fds() - before >= 60; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // would it take more?
  auto grown = fds() - before;
  std::cout << "150 silent connections: ccmuxd holds " << grown << " more file descriptors\n";
  EXPECT_LE(grown, 2 + 64 + 2);
  for (int s : socks) ::close(s);
  EXPECT_TRUE(eventually([&] { return http_get(port, "/healthz").status == 200; }));
  auto ok = login(token);
  EXPECT_TRUE(ok->request("ping")["result"]["pong"].get<bool>());
}

// Issue 10 item 10: lws' file mount followed symlinks out of static_root.
TEST_F(WsE2E, StaticRootSymlinksThatLeaveTheRootAreNotFollowed) {
  std::string www = dir.path + "/www";
  std::filesystem::create_directories(www + "/sub");
  std::filesystem::create_directories(dir.path + "/secret");
  write_file(www + "/index.html", "<html>page</html>");
  write_file(www + "/sub/inner.txt", "INNER");
  write_file(dir.path + "/secret/token.txt", "TOP-SECRET");
  std::filesystem::create_symlink(dir.path + "/secret/token.txt", www + "/out.txt");
  std::filesystem::create_symlink("../secret/token.txt", www + "/rel-out.txt");
  std::filesystem::create_directory_symlink(dir.path + "/secret", www + "/outdir");
  std::filesystem::create_symlink(www + "/sub/inner.txt", www + "/in.txt");  // inside: fine
  start_ws({}, www);
  EXPECT_EQ(http_get(port, "/").body, "<html>page</html>");
  auto in = http_get(port, "/in.txt");
  EXPECT_EQ(in.status, 200);
  EXPECT_EQ(in.body, "INNER");
  for (const std::string& target : std::vector<std::string>{"/out.txt", "/rel-out.txt", "/outdir/token.txt", "/outdir/", "/%2e%2e/secret/token.txt",
                                    "/sub/..%2f..%2fsecret%2ftoken.txt"}) {
    auto r = http_get(port, target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("TOP-SECRET"), std::string::npos) << target;
  }
  EXPECT_EQ(http_get(port, "/sub/inner.txt").body, "INNER");  // the connection pool is fine after 404s
}
