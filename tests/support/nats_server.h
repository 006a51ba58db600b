// Real nats-server processes (Debian's /usr/sbin/nats-server) for the fleet tests: a single
// server, a 3-node cluster, a hub with a leaf node, a fleet account with one user per machine
// (permissions from packaging/nats/fleet-hub.conf), optional TLS. Each server listens on free
// 127.0.0.1 ports with a config generated in its own temp dir; startup and cluster/leaf
// formation are polled with a deadline on the monitoring port. A server runs in its own
// process group and dies with the test process (PR_SET_PDEATHSIG) or with its NatsServer.
// PR_SET_PDEATHSIG follows the thread that forked: make servers on a thread that outlives
// them (the test's own thread).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ccmux::test {

// One machine of a fleet: NATS user `name` with the permissions of machine `name`; `leaf`:
// the machine reaches the hub through its own leaf node (the sample's leaf user template,
// whose publish list nats-server 2.9 needs wider: see packaging/nats/fleet-hub.conf).
struct NatsMachine {
  std::string name;
  std::string password;
  bool leaf = false;
};

// Account FLEET_<fleet> holding one user per machine (subjects ccmux.<fleet>.…).
struct NatsAccounts {
  std::string fleet = "default";
  std::vector<NatsMachine> machines;
};

struct NatsOptions {
  std::string server_name;                // default: nats-<client port>
  std::optional<NatsAccounts> accounts;   // none: no authentication, the global account
  bool tls = false;  // TLS required on the client port; certificate from a fresh test CA (ca_file())
  std::string tls_dir;  // with tls: take ca.crt, server.crt, server.key from here (NatsCluster shares one CA)
  // Cluster member: listens on cluster_port (0: a free one), routes to the others' cluster ports.
  bool cluster = false;
  int cluster_port = 0;
  std::vector<int> routes;
  std::string cluster_name = "ccmux-test";
  bool leaf_hub = false;  // accepts leaf nodes on leaf_port() (plain, not TLS)
  // Leaf node: dials these hub URLs (NatsServer::leaf_url of the hub) outward; opens no leaf port.
  std::vector<std::string> leaf_remotes;
  std::string extra_config;  // appended verbatim
};

class NatsServer {
 public:
  // Writes the config and starts the server; returns once it serves clients (throws otherwise).
  explicit NatsServer(NatsOptions opts = {});
  ~NatsServer();  // stops the server (its whole process group)
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::string url() const;  // nats://127.0.0.1:PORT, or tls://… with tls
  int port() const { return port_; }
  int http_port() const { return http_port_; }
  int cluster_port() const { return cluster_port_; }
  int leaf_port() const { return leaf_port_; }
  // What a leaf's remote dials: nats-leaf://[user:password@]127.0.0.1:LEAF_PORT.
  std::string leaf_url(const std::string& user = "", const std::string& password = "") const;
  std::string ca_file() const;      // the test CA that signed the server certificate (tls)
  std::string config_path() const;  // the generated nats-server.conf
  std::string log() const;          // the server's output so far (all its runs)
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  void kill9();    // SIGKILL, reaped
  void stop();     // SIGTERM, reaped (SIGKILL after 5 s)
  void restart();  // stop if running, start again: same ports, same config; waits until ready

  // GET http://127.0.0.1:http_port()/PATH (varz, routez, leafz, subsz?subs=1, …) as JSON;
  // null when the server does not answer.
  nlohmann::json monitor(const std::string& path) const;
  // Polls until the server has n routes / n leaf node connections (false at the deadline).
  bool wait_routes(int n, int timeout_ms = 8000) const;
  bool wait_leafnodes(int n, int timeout_ms = 8000) const;
  // Polls until the server's output contains `needle` (e.g. "authentication error").
  bool wait_log(const std::string& needle, int timeout_ms = 8000) const;

 private:
  void write_config();
  void start();
  NatsOptions opts_;
  std::string dir_;  // mkdtemp: config, log, TLS files; removed by the destructor
  int port_ = 0;
  int cluster_port_ = 0;
  int leaf_port_ = 0;
  int http_port_ = 0;
  pid_t pid_ = -1;
};

// Three cluster members routed to each other; returns once every member has both routes.
class NatsCluster {
 public:
  // `common` applies to every member (accounts, tls: one test CA for all members).
  explicit NatsCluster(NatsOptions common = {}, int size = 3);
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;
  NatsServer& node(size_t i) { return *nodes_.at(i); }
  size_t size() const { return nodes_.size(); }
  std::vector<std::string> urls() const;  // every member's client URL, node 0 first
  // Polls until every running member has a route to every other running member.
  bool wait_routes(int timeout_ms = 8000) const;

 private:
  std::string tls_dir_;  // the members' shared test CA and certificate (with tls)
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

// A hub accepting leaf nodes and a leaf server dialing it (only the leaf dials out); returns
// once the leaf connection is up on both sides. With hub.accounts, the leaf logs in as
// leaf_user (a machine of the account) and gets that machine's permissions.
struct NatsLeafPair {
  explicit NatsLeafPair(NatsOptions hub_opts = {}, const NatsMachine& leaf_user = {});
  NatsServer hub;
  NatsServer leaf;
};

// Machine `m`'s user block for fleet `fleet`: the block between "# BEGIN machine" and
// "# END machine" of packaging/nats/fleet-hub.conf (machine `laptop`), or between
// "# BEGIN leaf machine" and "# END leaf machine" (machine `home`) when m.leaf, with the
// machine's name, fleet `default` and password replaced (throws if a marker is missing).
std::string nats_machine_user_block(const std::string& fleet, const NatsMachine& m);

// Free TCP ports on 127.0.0.1, never the same one twice in this process.
int free_nats_port();

}  // namespace ccmux::test
