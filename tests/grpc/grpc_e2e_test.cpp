// transport-grpc end to end: ccmuxd with the plugin, the real claude CLI, the fake Messages
// API, and clients nobody on the C++ side wrote (tests/grpc/*.py on Debian's python3-grpcio
// with stubs generated from our .proto files in the test).
#include "e2e.h"
#include "ws_client.h"

#include "cli/certs.h"

#include <filesystem>

using namespace ccmux;
using namespace ccmux::test;

namespace {

std::string py() { return "/usr/bin/python3"; }  // the interpreter python3-grpcio belongs to

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
  void start_with(const std::string& more = "") {
    DaemonOptions o;
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
  int port = 0;
  std::string tls;
};

TEST_F(GrpcE2E, PythonClientWithATokenOverTlsRunsAWholeSession) {
  start_with();
  std::string token = daemon->connect()->request("token.create", {{"name", "pyclient"}})["token"];
  std::string out;
  int rc = run_command({py(), source_dir() + "/tests/grpc/session_client.py"}, &out, client_env({"CCMUX_GRPC_TOKEN=" + token}));
  std::cout << out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("GRPC CLIENT PASSED"), std::string::npos) << out;
  // The approved command ran in the project, and the picture reached the API as an image block.
  EXPECT_EQ(read_file(daemon->project() + "/grpc.txt"), "approved-over-grpc\n");
  std::string requests = read_file(dir.path + "/api-requests.ndjson");
  EXPECT_NE(requests.find("\"type\": \"image\""), std::string::npos) << requests.substr(0, 2000);
  // The answer is recorded as coming from this token over gRPC.
  auto audit = daemon->connect()->request("approvals.list", {{"all", true}})["approvals"];
  bool by_grpc = false;
  for (auto& a : audit) by_grpc = by_grpc || a.value("decided_by", "").find("grpc:token:pyclient@127.0.0.1") != std::string::npos;
  EXPECT_TRUE(by_grpc) << audit.dump(2);
}

}  // namespace
