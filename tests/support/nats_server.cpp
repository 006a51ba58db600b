#include "nats_server.h"

#include "certs.h"  // make_local_ca_and_server_cert: the test CA, as the other TLS tests make it

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ccmux::test {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* const kNatsServer = "/usr/sbin/nats-server";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// Polls `ready` every few ms until it holds (true) or timeout_ms pass (false).
bool poll_until(const std::function<bool()>& ready, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// One HTTP/1.0 GET on 127.0.0.1 (the monitoring port); the body, or "" on any failure.
std::string http_get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};  // a wedged server fails the poll instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET /" + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.find(" 200 ") == std::string::npos) return "";
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

std::string quoted(const std::string& s) { return json(s).dump(); }  // a NATS config string

// A CA and a server certificate for 127.0.0.1 and localhost, made as the other TLS tests
// make theirs (`ccmux certs init`'s code): DIR/ca.crt, server.crt, server.key.
void make_test_ca(const std::string& dir) {
  CertRequest req;
  req.dir = dir;
  req.dns_names = {"localhost"};
  req.ips = {"127.0.0.1"};
  make_local_ca_and_server_cert(req);
}

std::string make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "ccmux-nats-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

void remove_temp_dir(const std::string& dir) {
  if (dir.empty() || std::getenv("CCMUX_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace

int free_nats_port() {
  static std::mutex m;
  static std::set<int> given;  // two servers of one test must never get the same port
  std::lock_guard lock(m);
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    close(fd);
    if (port > 0 && given.insert(port).second) return port;
  }
  throw std::runtime_error("no free TCP port on 127.0.0.1");
}

std::string nats_machine_user_block(const std::string& fleet, const NatsMachine& m) {
  const std::string sample = std::string(CCMUX_SOURCE_DIR) + "/packaging/nats/fleet-hub.conf";
  const std::string kind = m.leaf ? "leaf machine" : "machine";
  const std::string sample_machine = m.leaf ? "home" : "laptop";
  std::string text = slurp(sample);
  size_t begin = text.find("# BEGIN " + kind + "\n");
  size_t end = text.find("# END " + kind + "\n", begin == std::string::npos ? 0 : begin);
  if (begin == std::string::npos || end == std::string::npos)
    throw std::runtime_error(sample + ": no '# BEGIN " + kind + "' … '# END " + kind + "' block (a test config template)");
  std::string block = text.substr(begin, end - begin);
  // The password first: it contains the machine name.
  replace_all(block, quoted(sample_machine + "-password-CHANGE-ME"), quoted(m.password));
  replace_all(block, "ccmux.default.", "ccmux." + fleet + ".");
  replace_all(block, sample_machine, m.name);
  return block;
}

NatsServer::NatsServer(NatsOptions opts) : opts_(std::move(opts)) {
  dir_ = make_temp_dir();
  try {
    if (opts_.tls && opts_.tls_dir.empty()) {
      opts_.tls_dir = dir_ + "/tls";
      make_test_ca(opts_.tls_dir);
    }
    // A port found free can be taken by another process before the server binds it: then
    // the server exits at once, and it gets other ports (a given cluster port stays).
    for (int attempt = 1;; ++attempt) {
      port_ = free_nats_port();
      http_port_ = free_nats_port();
      if (opts_.cluster) cluster_port_ = opts_.cluster_port ? opts_.cluster_port : free_nats_port();
      if (opts_.leaf_hub) leaf_port_ = free_nats_port();
      if (opts_.server_name.empty()) opts_.server_name = "nats-" + std::to_string(port_);
      write_config();
      try {
        start();
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 3 || log().find("address already in use") == std::string::npos) throw;
      }
    }
  } catch (...) {
    remove_temp_dir(dir_);  // the destructor does not run for a constructor that throws
    throw;
  }
}

NatsServer::~NatsServer() {
  if (pid_ > 0) kill9();  // nothing to keep: no state outlives the test
  remove_temp_dir(dir_);
}

std::string NatsServer::url() const {
  return std::string(opts_.tls ? "tls" : "nats") + "://127.0.0.1:" + std::to_string(port_);
}

std::string NatsServer::leaf_url(const std::string& user, const std::string& password) const {
  std::string cred = user.empty() ? "" : user + ":" + password + "@";
  return "nats-leaf://" + cred + "127.0.0.1:" + std::to_string(leaf_port_);
}

std::string NatsServer::ca_file() const { return opts_.tls_dir + "/ca.crt"; }
std::string NatsServer::config_path() const { return dir_ + "/nats-server.conf"; }
std::string NatsServer::log() const { return slurp(dir_ + "/nats-server.log"); }

void NatsServer::write_config() {
  std::ostringstream c;
  c << "# Generated by tests/support/nats_server.cpp\n"
    << "server_name: " << quoted(opts_.server_name) << "\n"
    << "listen: 127.0.0.1:" << port_ << "\n"
    << "http: 127.0.0.1:" << http_port_ << "\n"
    << "debug: false\ntrace: false\n";
  if (opts_.tls)
    c << "tls {\n  cert_file: " << quoted(opts_.tls_dir + "/server.crt") << "\n  key_file: " << quoted(opts_.tls_dir + "/server.key")
      << "\n  timeout: 2\n}\n";
  if (opts_.cluster) {
    c << "cluster {\n  name: " << quoted(opts_.cluster_name) << "\n  listen: 127.0.0.1:" << cluster_port_ << "\n  routes: [\n";
    for (int r : opts_.routes) c << "    \"nats-route://127.0.0.1:" << r << "\"\n";
    c << "  ]\n}\n";  // explicit routes are retried every second, forever: a restarted member rejoins
  }
  if (opts_.leaf_hub) c << "leafnodes {\n  listen: 127.0.0.1:" << leaf_port_ << "\n}\n";
  if (!opts_.leaf_remotes.empty()) {
    c << "leafnodes {\n  remotes: [\n";
    for (auto& r : opts_.leaf_remotes) c << "    { url: " << quoted(r) << " }\n";
    c << "  ]\n}\n";
  }
  if (opts_.accounts) {
    c << "accounts {\n  FLEET_" << opts_.accounts->fleet << " {\n    users: [\n";
    for (auto& m : opts_.accounts->machines) c << nats_machine_user_block(opts_.accounts->fleet, m) << "\n";
    c << "    ]\n  }\n}\n";
  }
  c << opts_.extra_config << "\n";
  std::ofstream(config_path()) << c.str();
}

void NatsServer::start() {
  // Everything the child touches is made before fork (the test process has threads).
  std::string conf = config_path(), logf = dir_ + "/nats-server.log";
  const char* argv[] = {kNatsServer, "-c", conf.c_str(), nullptr};
  int log_fd = open(logf.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::runtime_error("cannot open " + logf);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    // Dies with the test process even when a crash skips every destructor.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  close(log_fd);
  if (pid < 0) throw std::runtime_error("fork failed");
  setpgid(pid, pid);  // either side may run first
  pid_ = pid;
  // Ready: the monitoring port answers /healthz once the client port accepts (and TLS,
  // routes and leaf listeners are set up). A server that exits (a port taken, a config
  // error) fails at once with its output.
  bool exited = false;
  bool ready = poll_until(
      [&] {
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_) return exited = true;
        return !http_get(http_port_, "healthz").empty();
      },
      10000);
  if (exited || !ready) {
    if (!exited) kill9();
    pid_ = -1;
    throw std::runtime_error("nats-server " + std::string(exited ? "exited" : "not ready in 10 s") +
                             " (config " + conf + "):\n" + log());
  }
}

void NatsServer::kill9() {
  if (pid_ <= 0) return;
  killpg(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void NatsServer::stop() {
  if (pid_ <= 0) return;
  killpg(pid_, SIGTERM);
  bool gone = poll_until([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, 5000);
  if (!gone) {
    killpg(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

void NatsServer::restart() {
  stop();
  start();
}

json NatsServer::monitor(const std::string& path) const {
  std::string body = http_get(http_port_, path);
  return body.empty() ? json() : json::parse(body, nullptr, false);
}

bool NatsServer::wait_routes(int n, int timeout_ms) const {
  return poll_until(
      [&] {
        json r = monitor("routez");
        return r.is_object() && r.value("num_routes", -1) >= n;
      },
      timeout_ms);
}

bool NatsServer::wait_leafnodes(int n, int timeout_ms) const {
  return poll_until(
      [&] {
        json l = monitor("leafz");
        return l.is_object() && l.value("leafnodes", -1) >= n;
      },
      timeout_ms);
}

bool NatsServer::wait_log(const std::string& needle, int timeout_ms) const {
  return poll_until([&] { return log().find(needle) != std::string::npos; }, timeout_ms);
}

namespace {
NatsOptions member_options(NatsOptions o, int own, const std::vector<int>& all) {
  o.cluster = true;
  o.cluster_port = own;
  o.routes.clear();
  for (int p : all)
    if (p != own) o.routes.push_back(p);
  return o;
}
}  // namespace

NatsCluster::NatsCluster(NatsOptions common, int size) {
  try {
    if (common.tls && common.tls_dir.empty()) {
      tls_dir_ = make_temp_dir();
      common.tls_dir = tls_dir_;
      make_test_ca(tls_dir_);
    }
    std::vector<int> ports;
    for (int i = 0; i < size; ++i) ports.push_back(free_nats_port());
    for (int i = 0; i < size; ++i) {
      NatsOptions o = member_options(common, ports[static_cast<size_t>(i)], ports);
      o.server_name = "node" + std::to_string(i + 1);
      nodes_.push_back(std::make_unique<NatsServer>(std::move(o)));
    }
    if (!wait_routes()) {
      std::string logs;
      for (auto& n : nodes_) logs += "--- " + n->config_path() + "\n" + n->log();
      throw std::runtime_error("the NATS cluster's routes did not come up in 8 s:\n" + logs);
    }
  } catch (...) {
    nodes_.clear();
    remove_temp_dir(tls_dir_);  // the destructor does not run for a constructor that throws
    throw;
  }
}

NatsCluster::~NatsCluster() {
  nodes_.clear();  // the servers first: they use the certificate files
  remove_temp_dir(tls_dir_);
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> u;
  for (auto& n : nodes_) u.push_back(n->url());
  return u;
}

bool NatsCluster::wait_routes(int timeout_ms) const {
  int up = 0;
  for (auto& n : nodes_) up += n->running() ? 1 : 0;
  // A route per pair: each running member counts the other running ones (routes to a dead
  // member vanish from /routez).
  return poll_until(
      [&] {
        for (auto& n : nodes_) {
          if (!n->running()) continue;
          json r = n->monitor("routez");
          if (!r.is_object() || r.value("num_routes", -1) != up - 1) return false;
        }
        return true;
      },
      timeout_ms);
}

namespace {
NatsOptions with_hub(NatsOptions o) {
  o.leaf_hub = true;
  return o;
}
NatsOptions leaf_options(const NatsServer& hub, const NatsMachine& user) {
  NatsOptions o;
  o.server_name = "leaf-" + std::to_string(hub.leaf_port());
  o.leaf_remotes = {hub.leaf_url(user.name, user.password)};
  return o;
}
}  // namespace

NatsLeafPair::NatsLeafPair(NatsOptions hub_opts, const NatsMachine& leaf_user)
    : hub(with_hub(std::move(hub_opts))), leaf(leaf_options(hub, leaf_user)) {
  if (!leaf.wait_leafnodes(1) || !hub.wait_leafnodes(1))
    throw std::runtime_error("the leaf node did not connect to the hub in 8 s:\n--- hub\n" + hub.log() + "--- leaf\n" +
                             leaf.log());
}

}  // namespace ccmux::test
