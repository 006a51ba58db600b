// The client library (client/) against real sockets: typed connect errors, requests, and a
// Subscription that resumes at the next seq when ccmuxd is killed and started again.
#include "harness.h"

#include <ccmux/client/subscription.h>
#include <ccmux/client/unix_transport.h>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {

// A Unix socket that accepts one client, reads its hello line and answers `reply` (nothing
// when empty), then keeps the connection open until destroyed.
class FakeServer {
 public:
  FakeServer(const std::string& path, std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    thread_ = std::thread([this] {
      conn_ = ::accept(fd_, nullptr, nullptr);
      if (conn_ < 0) return;
      timeval tv{10, 0};
      setsockopt(conn_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char ch;
      while (::recv(conn_, &ch, 1, 0) == 1 && ch != '\n') {
      }
      if (!reply_.empty()) (void)!::send(conn_, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    });
  }
  ~FakeServer() {
    thread_.join();
    if (conn_ >= 0) ::close(conn_);
    ::close(fd_);
  }

 private:
  std::string reply_;
  int fd_ = -1, conn_ = -1;
  std::thread thread_;
};

client::ConnectFailure connect_failure(const std::function<void()>& f) {
  try {
    f();
  } catch (const client::ConnectError& e) {
    return e.reason;
  }
  ADD_FAILURE() << "connected";
  return client::ConnectFailure::other;
}

}  // namespace

TEST(ClientLibrary, ConnectErrorsSayWhy) {
  TempDir t;
  std::string path = t.path + "/d.sock";
  EXPECT_EQ(connect_failure([&] { client::Connection c(path); }), client::ConnectFailure::not_running);
  try {
    client::Connection c(path);
  } catch (const client::Unreachable& e) {  // the CLI's exit code 2, with the hint it always had
    EXPECT_NE(std::string(e.what()).find("cannot reach ccmuxd at " + path), std::string::npos) << e.what();
  }
  {
    FakeServer s(path, R"({"type":"error","code":"protocol_mismatch","message":"client speaks protocol 1, ccmuxd speaks 2"})" "\n");
    EXPECT_EQ(connect_failure([&] { client::Connection c(path); }), client::ConnectFailure::refused);
  }
  unlink(path.c_str());
  {
    FakeServer s(path, "");  // accepts, never says hello
    EXPECT_EQ(connect_failure([&] { client::Connection c(client::UnixTransport::connect(path), {false, "test", 200}); }),
              client::ConnectFailure::no_answer);
  }
}

TEST(ClientLibrary, RequestsGetTheirOwnResponseAndTypedErrors) {
  FakeDaemon f;
  client::Connection c(f.d->socket());
  EXPECT_EQ(c.server_hello().value("type", ""), "hello");
  std::string id = c.request("session.new", {{"cwd", f.d->project()}})["id"];
  EXPECT_EQ(c.request("session.get", {{"session", id}}).value("id", ""), id);
  try {
    c.request("no.such.method");
    ADD_FAILURE() << "an unknown method was served";
  } catch (const client::RequestFailed& e) {
    EXPECT_EQ(e.code, "unknown_method");
  }
  // Events that arrive while a request waits are kept, in order, for next().
  c.request("subscribe", {{"session", id}, {"from_seq", 1}});
  c.request("status");
  auto ev = c.next(10000);
  ASSERT_TRUE(ev);
  EXPECT_EQ((*ev)["type"], "event");
  EXPECT_EQ((*ev)["seq"], 1);
}

TEST(ClientLibrary, SubscriptionResumesAtTheNextSeqAfterTheDaemonRestarts) {
  DaemonOptions unheld;  // the restart ends the session (session_exited): claude is ccmuxd's child
  unheld.claude_keys = {"hold: false"};
  FakeDaemon f(unheld);
  std::string id = client::Connection(f.d->socket()).request("session.new", {{"cwd", f.d->project()}, {"prompt", "hello"}})["id"];
  std::string socket = f.d->socket();
  client::SubscriptionOptions so;
  so.session = id;
  so.retry_interval = std::chrono::milliseconds(50);
  client::Subscription sub([socket] { return std::make_unique<client::Connection>(socket); }, nullptr, so);
  std::vector<uint64_t> lost_at;
  sub.on_lost([&](uint64_t resume_at) { lost_at.push_back(resume_at); });
  std::vector<uint64_t> seqs;
  bool restarted = false;
  for (;;) {
    auto ev = sub.next(client::deadline_in(30000));
    ASSERT_TRUE(ev) << "nothing within 30 s after seq " << (seqs.empty() ? 0 : seqs.back());
    seqs.push_back(ev->seq);
    if (ev->kind() == "result" && !restarted) {
      f.d->kill9();
      f.d->start();
      restarted = true;
    }
    if (restarted && ev->kind() == "session_exited") break;  // what ccmuxd says after a restart
  }
  ASSERT_EQ(lost_at.size(), 1u);
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1) << "gap or duplicate";
  EXPECT_GT(lost_at[0], 1u);
  EXPECT_LE(lost_at[0], seqs.back());
  EXPECT_EQ(sub.next_seq(), seqs.back() + 1);
}

TEST(ClientLibrary, SubscriptionWithoutReconnectThrowsDisconnected) {
  FakeDaemon f;
  client::Connection c(f.d->socket());
  std::string id = c.request("session.new", {{"cwd", f.d->project()}})["id"];
  client::SubscriptionOptions so;
  so.session = id;
  so.reconnect = false;
  client::Subscription sub([] { return std::unique_ptr<client::Connection>(); },
                           std::make_unique<client::Connection>(f.d->socket()), so);
  ASSERT_TRUE(sub.next(client::deadline_in(10000)));
  f.d->kill9();
  EXPECT_THROW(
      {
        while (sub.next(client::deadline_in(10000))) {
        }
      },
      client::Disconnected);
}
