// The transport-grpc end-to-end fixture: ccmuxd with the plugin on TLS (the machine's CA for
// client certificates), the fake Messages API, and C++ gRPC channels to it.
#pragma once

#include "e2e.h"
#include "ws_client.h"

#include "cli/certs.h"

#include "ccmux/v1/machine.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

namespace ccmux::test {

inline std::string py() { return "/usr/bin/python3"; }  // the interpreter python3-grpcio belongs to

class GrpcE2E : public E2E {
 protected:
  void SetUp() override {
    port = free_tcp_port();
    tls = dir.path + "/tls";
    CertRequest req;
    req.dir = tls;
    req.dns_names = {"localhost"};
    req.ips = {"127.0.0.1"};
    make_local_ca_and_server_cert(req);
  }
  // The plugin's entry: TLS with the machine's CA for client certificates, plus `more`.
  void start_with(const std::string& more = "", DaemonOptions o = {}) {
    o.extra_yaml = "plugins:\n  - name: transport-grpc\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                   "    port: " + std::to_string(port) + "\n    tls_cert: " + tls + "/server.crt\n    tls_key: " + tls +
                   "/server.key\n    client_ca: " + tls + "/ca.crt\n" + more;
    start(o);
  }
  std::vector<std::string> client_env(const std::vector<std::string>& creds) {
    std::vector<std::string> env = {"CCMUX_GRPC_ADDR=127.0.0.1:" + std::to_string(port), "CCMUX_PROJECT=" + daemon->project(),
                                    "CCMUX_GRPC_CA=" + tls + "/ca.crt", "HOME=" + dir.path};
    env.insert(env.end(), creds.begin(), creds.end());
    return env;
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
  // TLS to the daemon (its server certificate is for localhost), with an optional client pair.
  std::shared_ptr<grpc::Channel> channel(const std::string& cert = "", const std::string& key = "") {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = read_file(tls + "/ca.crt");
    if (!cert.empty()) {
      o.pem_cert_chain = read_file(cert);
      o.pem_private_key = read_file(key);
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(addr(), grpc::SslCredentials(o), args);
  }
  // Machine.Info with an optional bearer token: the status says whether the call got in.
  grpc::Status info(const std::shared_ptr<grpc::Channel>& ch, const std::string& token = "", std::string* identity = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    ccmux::v1::InfoResponse resp;
    auto st = ccmux::v1::Machine::NewStub(ch)->Info(&ctx, ccmux::v1::InfoRequest(), &resp);
    if (identity) *identity = resp.identity();
    return st;
  }
  int port = 0;
  std::string tls;
};

}  // namespace ccmux::test
