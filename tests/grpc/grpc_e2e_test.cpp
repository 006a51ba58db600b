// transport-grpc end to end: ccmuxd with the plugin, the real claude CLI, the fake Messages
// API, and clients nobody on the C++ side wrote (tests/grpc/*.py on Debian's python3-grpcio
// with stubs generated from our .proto files in the test).
#include "grpc_fixture.h"

#include "auth/cert_signer.h"
#include "ws_client.h"

#include "ccmux/v1/events.grpc.pb.h"
#include "ccmux/v1/machine.grpc.pb.h"
#include "ccmux/v1/sessions.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {

// The whole session over mTLS with a device certificate from `ccmux certs issue`.
TEST_F(GrpcE2E, PythonClientWithADeviceCertificateRunsAWholeSession) {
  start_with();
  std::string out;
  const std::string dev = dir.path + "/laptop";
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + daemon->socket(), "certs", "issue", "laptop", "--out", dev,
                         "--p12-password", "pw"},
                        &out),
            0)
      << out;
  int rc = run_command({py(), source_dir() + "/tests/grpc/session_client.py"}, &out,
                       client_env({"CCMUX_GRPC_CERT=" + dev + "/laptop.crt", "CCMUX_GRPC_KEY=" + dev + "/laptop.key"}));
  std::cout << out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("GRPC CLIENT PASSED"), std::string::npos) << out;
  EXPECT_NE(out.find("as certificate:laptop"), std::string::npos) << out;
  // The approved command ran in the project, and the picture reached the API as an image block.
  EXPECT_EQ(read_file(daemon->project() + "/grpc.txt"), "approved-over-grpc\n");
  std::string requests = read_file(dir.path + "/api-requests.ndjson");
  EXPECT_NE(requests.find("\"type\": \"image\""), std::string::npos) << requests.substr(0, 2000);
  // The answers are recorded as coming from this device over gRPC.
  auto audit = daemon->connect()->request("approvals.list", {{"all", true}})["approvals"];
  int by_device = 0;
  for (auto& a : audit) by_device += a.value("decided_by", "").find("grpc:certificate:laptop@127.0.0.1") != std::string::npos;
  EXPECT_EQ(by_device, 2) << audit.dump(2);  // the Bash approval and the question
}

// The same client with a token over TLS, for programs that cannot hold a certificate.
TEST_F(GrpcE2E, PythonClientWithATokenOverTlsRunsAWholeSession) {
  start_with();
  std::string token = daemon->connect()->request("token.create", {{"name", "pyclient"}})["token"];
  std::string out;
  int rc = run_command({py(), source_dir() + "/tests/grpc/session_client.py"}, &out, client_env({"CCMUX_GRPC_TOKEN=" + token}));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("GRPC CLIENT PASSED"), std::string::npos) << out;
  EXPECT_NE(out.find("as token:pyclient"), std::string::npos) << out;
}

// An expired certificate signed by the machine's CA is refused by TLS itself (the handshake
// fails: UNAVAILABLE); a current one from the same CA that was never issued gets through TLS and
// is refused by name (UNAUTHENTICATED) — the difference shows which check refused the first.
TEST_F(GrpcE2E, AnExpiredCertificateIsRefusedByTls) {
  start_with();
  auto write_pair = [&](const SignedClientCert& c, const std::string& stem) {
    write_file(stem + ".crt", c.cert_pem);
    write_file(stem + ".key", c.key_pem);
  };
  write_pair(sign_client_cert(tls, "old-laptop", 1, time(nullptr) - 900L * 86400), dir.path + "/expired");
  write_pair(sign_client_cert(tls, "stray", 30, time(nullptr)), dir.path + "/stray");
  auto expired = info(channel(dir.path + "/expired.crt", dir.path + "/expired.key"));
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAVAILABLE) << expired.error_message();
  auto stray = info(channel(dir.path + "/stray.crt", dir.path + "/stray.key"));
  EXPECT_EQ(stray.error_code(), grpc::StatusCode::UNAUTHENTICATED) << stray.error_message();
  EXPECT_NE(stray.error_message().find("is unknown or revoked"), std::string::npos) << stray.error_message();
}

TEST_F(GrpcE2E, NoCredentialsABadTokenAndAnotherCasCertificateAreRefused) {
  start_with();
  std::string token = daemon->connect()->request("token.create", {{"name", "good"}})["token"];
  std::string identity;
  ASSERT_TRUE(info(channel(), token, &identity).ok());
  EXPECT_EQ(identity, "token:good");
  auto none = info(channel());
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_NE(none.error_message().find("no client certificate and no bearer token"), std::string::npos) << none.error_message();
  auto bad = info(channel(), "ccmux_not-a-token");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad.error_message();
  // A certificate from another CA: TLS itself refuses it (the handshake fails).
  CertRequest other;
  other.dir = dir.path + "/other-ca";
  other.dns_names = {"laptop"};
  make_local_ca_and_server_cert(other);
  auto foreign = info(channel(other.dir + "/server.crt", other.dir + "/server.key"), token);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::UNAVAILABLE) << foreign.error_message();
  // The refusals are logged with the address, never with the token.
  std::string log = daemon->log();
  EXPECT_NE(log.find("refused 127.0.0.1: bad token"), std::string::npos) << log;
  EXPECT_EQ(log.find("ccmux_not-a-token"), std::string::npos);
}

TEST_F(GrpcE2E, FailedAuthenticationsAreRateLimitedPerAddress) {
  start_with("    auth_max_failures: 3\n    auth_window_s: 60\n");
  std::string token = daemon->connect()->request("token.create", {{"name", "good"}})["token"];
  auto ch = channel();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(info(ch, "ccmux_wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto limited = info(ch, token);  // even a good token, until the window passes
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << limited.error_message();
  EXPECT_NE(limited.error_message().find("too many failed authentications from 127.0.0.1"), std::string::npos);
}

TEST_F(GrpcE2E, RevokingATokenEndsItsLiveStreamsAndRefusesItsNextCall) {
  start_with();
  auto local = daemon->connect();
  std::string token = local->request("token.create", {{"name", "phone"}})["token"];
  std::string session = new_session(*local, "echo: before the revocation");
  auto ch = channel();
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + token);
  ccmux::v1::SubscribeRequest req;
  req.set_session(session);
  req.set_from_seq(1);
  auto stream = ccmux::v1::Events::NewStub(ch)->Subscribe(&ctx, req);
  ccmux::v1::SubscribeUpdate u;
  ASSERT_TRUE(stream->Read(&u));
  ASSERT_TRUE(u.has_subscribed());
  local->request("token.revoke", {{"name", "phone"}});
  auto t0 = std::chrono::steady_clock::now();
  while (stream->Read(&u)) {  // the replayed events, then the end
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10)) << "the stream was not ended";
  }
  auto st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find("'phone' was revoked"), std::string::npos) << st.error_message();
  EXPECT_EQ(info(ch, token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// SDK 1.5 end to end: a device certificate from `ccmux certs issue` (signed by the CA of
// tls/ beside the config, which the plugin's client_ca also names) gets in over mTLS, and
// `ccmux certs revoke` ends its live stream and refuses its next call.
TEST_F(GrpcE2E, ACertificateFromCcmuxCertsIssueGetsInUntilRevoked) {
  start_with();
  std::string out;
  const std::string sock = "--socket=" + daemon->socket(), dev = dir.path + "/laptop";
  ASSERT_EQ(run_command({ccmux_bin(), sock, "certs", "issue", "laptop", "--out", dev, "--p12-password", "pw"}, &out), 0) << out;
  auto ch = channel(dev + "/laptop.crt", dev + "/laptop.key");
  std::string identity;
  auto st = info(ch, "", &identity);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(identity, "certificate:laptop");
  EXPECT_GT(daemon->connect()->request("cert.list")["certs"][0]["last_used_ms"].get<int64_t>(), 0);

  auto local = daemon->connect();
  std::string session = new_session(*local, "echo: before the revocation");
  grpc::ClientContext ctx;
  ccmux::v1::SubscribeRequest req;
  req.set_session(session);
  req.set_from_seq(1);
  auto stream = ccmux::v1::Events::NewStub(ch)->Subscribe(&ctx, req);
  ccmux::v1::SubscribeUpdate u;
  ASSERT_TRUE(stream->Read(&u));
  ASSERT_TRUE(u.has_subscribed());
  ASSERT_EQ(run_command({ccmux_bin(), sock, "certs", "revoke", "laptop"}, &out), 0) << out;
  auto t0 = std::chrono::steady_clock::now();
  while (stream->Read(&u)) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10)) << "the stream was not ended";
  }
  auto end = stream->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAUTHENTICATED) << end.error_message();
  EXPECT_NE(end.error_message().find("'laptop' was revoked"), std::string::npos) << end.error_message();
  auto again = info(ch);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::UNAUTHENTICATED) << again.error_message();
}

TEST_F(GrpcE2E, PlainTextIsRefusedOffLoopbackAndServedOnLoopbackWithAToken) {
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: transport-grpc\n    search_dir: " + build_dir() +
                 "/plugins\n    required: true\n    listen: 0.0.0.0\n    plaintext: true\n    port: " + std::to_string(port) + "\n";
  try {
    Daemon d(dir.path + "/open", api.base_url(), o);
    FAIL() << "ccmuxd served plain-text gRPC on 0.0.0.0";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("plaintext is allowed on a loopback address only"), std::string::npos) << e.what();
  }
  o.extra_yaml = "plugins:\n  - name: transport-grpc\n    search_dir: " + build_dir() +
                 "/plugins\n    required: true\n    plaintext: true\n    port: " + std::to_string(port) + "\n";
  start(o);
  std::string token = daemon->connect()->request("token.create", {{"name", "local"}})["token"];
  auto ch = grpc::CreateChannel(addr(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(info(ch, token).ok());
  EXPECT_EQ(info(ch).error_code(), grpc::StatusCode::UNAUTHENTICATED);  // loopback is not a free pass
}

// Issue 15 through the typed API: Sessions.New with a worktree, the session's worktree fields,
// ListWorktrees, RemoveWorktree refused while the session lives (FAILED_PRECONDITION, the
// protocol's code in the trailer), then done once it is stopped.
TEST_F(GrpcE2E, ASessionInAWorktreeAndTheWorktreeRpcs) {
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: transport-grpc\n    search_dir: " + build_dir() +
                 "/plugins\n    required: true\n    plaintext: true\n    port: " + std::to_string(port) + "\n";
  start(o);
  std::string repo = daemon->project() + "/app";
  std::filesystem::create_directories(repo);
  for (std::vector<std::string> args : {std::vector<std::string>{"init", "-q", "-b", "main"}, {"commit", "-q", "--allow-empty", "-m", "first"}}) {
    args.insert(args.begin(), {"/usr/bin/git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"});
    std::string out;
    ASSERT_EQ(run_command(args, &out), 0) << out;
  }
  std::string token = daemon->connect()->request("token.create", {{"name", "wt"}})["token"];
  auto stub = ccmux::v1::Sessions::NewStub(grpc::CreateChannel(addr(), grpc::InsecureChannelCredentials()));
  auto ctx = [&](grpc::ClientContext& c) {
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    c.AddMetadata("authorization", "Bearer " + token);
  };
  ccmux::v1::NewSessionRequest req;
  req.set_cwd(repo);
  req.set_worktree("g1");
  req.set_branch("feature-g1");
  ccmux::v1::Session s;
  {
    grpc::ClientContext c;
    ctx(c);
    auto st = stub->New(&c, req, &s);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  std::string wt = std::filesystem::canonical(daemon->project()).string() + "/.ccmux-worktrees/app/g1";
  EXPECT_EQ(s.worktree(), wt);
  EXPECT_EQ(s.worktree_name(), "g1");
  EXPECT_EQ(s.branch(), "feature-g1");
  EXPECT_EQ(s.repo(), std::filesystem::canonical(repo).string());
  ccmux::v1::ListWorktreesResponse list;
  {
    grpc::ClientContext c;
    ctx(c);
    ASSERT_TRUE(stub->ListWorktrees(&c, ccmux::v1::ListWorktreesRequest(), &list).ok());
  }
  ASSERT_EQ(list.worktrees_size(), 1);
  EXPECT_EQ(list.worktrees(0).path(), wt);
  EXPECT_EQ(list.worktrees(0).session(), s.id());
  ccmux::v1::RemoveWorktreeRequest rm;
  rm.set_name("g1");
  rm.set_force(true);
  ccmux::v1::RemoveWorktreeResponse removed;
  {
    grpc::ClientContext c;
    ctx(c);
    auto st = stub->RemoveWorktree(&c, rm, &removed);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(st.error_message().find("is used by session " + s.id()), std::string::npos) << st.error_message();
    auto code = c.GetServerTrailingMetadata().find("ccmux-error-code");
    ASSERT_NE(code, c.GetServerTrailingMetadata().end());
    EXPECT_EQ(std::string(code->second.data(), code->second.size()), "worktree_in_use");
  }
  daemon->connect()->request("session.stop", {{"session", s.id()}});
  for (int i = 0; i < 600 && daemon->connect()->request("session.get", {{"session", s.id()}})["state"] != "exited"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    grpc::ClientContext c;
    ctx(c);
    auto st = stub->RemoveWorktree(&c, rm, &removed);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(removed.path(), wt);
  EXPECT_FALSE(std::filesystem::exists(wt));
}

}  // namespace
