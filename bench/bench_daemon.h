// A ccmuxd for the transport benches: its "claude" is fake_claude_firehose in the mode the
// env says, transport-ws on a free port, optionally transport-grpc (plain text on loopback,
// bearer token) on another, one bench token and one idle session. ccmux_ws_bench and
// ccmux_grpc_bench share it, so their figures come from the same daemon set-up.
#pragma once

#include "bench_support.h"
#include "harness.h"
#include "ws_client.h"

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ccmux::bench {

inline bool wait_until(const std::function<bool()>& f, double timeout_s) {
  auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return f();
}

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct BenchDaemonOptions {
  std::vector<std::pair<std::string, std::string>> firehose_env;
  bool grpc = false;             // also load transport-grpc
  std::string grpc_yaml;         // its transport lines; empty: `plaintext: true` on 127.0.0.1
  std::vector<std::string> policies = {"builtin:default"};
};

struct BenchDaemon {
  ccmux::test::TempDir t;
  int port = ccmux::test::free_tcp_port();       // transport-ws
  int grpc_port = other_port(port);               // transport-grpc (when loaded)
  std::unique_ptr<ccmux::test::Daemon> d;
  std::unique_ptr<Client> local;
  std::string token, session;

  static int other_port(int taken) {
    int p = ccmux::test::free_tcp_port();
    while (p == taken) p = ccmux::test::free_tcp_port();
    return p;
  }
  explicit BenchDaemon(const BenchDaemonOptions& bo) {
    ccmux::test::DaemonOptions o;
    o.log_level = "info";
    o.claude_path = ccmux::test::build_dir() + "/bench/fake_claude_firehose";
    o.claude_env = bo.firehose_env;
    o.policies = bo.policies;
    const std::string dir = ccmux::test::build_dir() + "/plugins";
    o.extra_yaml = "plugins:\n  - name: transport-ws\n    search_dir: " + dir + "\n    required: true\n    port: " +
                   std::to_string(port) +
                   "\n    max_connections: 1000\n    max_connections_per_address: 1000\n";  // every client is 127.0.0.1
    if (bo.grpc)
      o.extra_yaml += "  - name: transport-grpc\n    search_dir: " + dir + "\n    required: true\n    port: " +
                      std::to_string(grpc_port) + "\n" + (bo.grpc_yaml.empty() ? "    plaintext: true\n" : bo.grpc_yaml);
    d = std::make_unique<ccmux::test::Daemon>(t.path + "/d", "http://127.0.0.1:9", o);
    local = d->connect();
    token = local->request("token.create", {{"name", "bench"}})["token"];
    session = new_session();
  }
  std::string new_session() {
    std::string id = local->request("session.new", {{"cwd", d->project()}})["id"];
    wait_for_state(*local, id, "idle");
    return id;
  }
  void wait_state(const std::string& state) { wait_for_state(*local, session, state); }
  uint64_t head() { return local->request("session.get", {{"session", session}})["last_seq"]; }
  // A WebSocket client's first messages: auth, hello, subscribe to the session from `from_seq`.
  std::vector<std::string> ws_opening(uint64_t from_seq) const {
    using nlohmann::json;
    return {json{{"type", "auth"}, {"token", token}}.dump(), R"({"type":"hello","protocol":1})",
            json{{"type", "request"}, {"id", 1}, {"method", "subscribe"}, {"params", {{"session", session}, {"from_seq", from_seq}}}}.dump()};
  }
  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port); }
};

}  // namespace ccmux::bench
