// `ccmux --host NAME` and `ccmux ls --all-hosts`: two ccmuxd on loopback (own state dirs,
// transport-ws each on its own port, a token each) driven by the real ccmux binary through
// hosts.yaml. Claude is the scripted fake (tests/fake_claude): what is tested is the path
// from the CLI to the other machine's daemon, not claude.
#include "e2e.h"
#include "ws_client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <sstream>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {

// Something accepts TCP connections on 127.0.0.1:port (a bare connect: no login attempt for
// transport-ws's rate limit to count).
bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// One machine: a ccmuxd with the fake claude and transport-ws on its own port, and a token
// for it saved where hosts.yaml will name it.
struct Machine {
  int port = free_tcp_port();
  FakeDaemon f;
  std::string token;
  explicit Machine(const std::string& token_path)
      : f([&] {
          DaemonOptions o;
          o.extra_yaml = "plugins:\n  - name: transport-ws\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                         "    port: " + std::to_string(port) + "\n    static_root: " + source_dir() +
                         "/plugins/transport-ws/web\n";
          return o;
        }()) {
    token = f.d->connect()->request("token.create", {{"name", "laptop"}})["token"];
    write_file(token_path, token + "\n");
    chmod(token_path.c_str(), 0600);
    EXPECT_TRUE(eventually([&] { return port_open(port); })) << "transport-ws of " << f.d->config_path() << " never listened";
  }
};

class HostsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(cfg() + "/ccmux");
    a = std::make_unique<Machine>(cfg() + "/ccmux/a.token");
    b = std::make_unique<Machine>(cfg() + "/ccmux/b.token");
    write_file(cfg() + "/ccmux/hosts.yaml", "hosts:\n"
                                            "  - name: a\n"
                                            "    address: 127.0.0.1:" + std::to_string(a->port) + "\n"
                                            "    transport: ws\n"
                                            "    token_file: a.token\n"
                                            "  - name: b\n"
                                            "    address: 127.0.0.1:" + std::to_string(b->port) + "\n"
                                            "    token_file: ~/b.token\n");
    // b's token through "~/": HOME is the test dir's home.
    std::filesystem::create_directories(home());
    std::filesystem::copy_file(cfg() + "/ccmux/b.token", home() + "/b.token");
    chmod((home() + "/b.token").c_str(), 0600);
  }
  void TearDown() override {
    if (HasFailure())
      for (auto* m : {a.get(), b.get()})
        if (m) std::cerr << "---- " << m->f.d->config_path() << " log ----\n" << m->f.d->log().substr(0, 20000) << "\n";
  }
  std::string cfg() const { return t.path + "/cfg"; }
  std::string home() const { return t.path + "/home"; }
  // No local ccmuxd unless `local_socket` says which: a laptop with no daemon of its own.
  std::vector<std::string> env(const std::string& local_socket = "") const {
    return {"XDG_CONFIG_HOME=" + cfg(), "HOME=" + home(),
            "CCMUX_DAEMON_SOCKET=" + (local_socket.empty() ? t.path + "/no-local-daemon.sock" : local_socket)};
  }
  int ccmux(const std::vector<std::string>& args, std::string* out, const std::string& local_socket = "") const {
    std::vector<std::string> argv = {"/usr/bin/timeout", "60", ccmux_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, out, env(local_socket));
  }
  std::string new_session(Machine& m, const std::string& prompt) {
    return m.f.d->connect()->request("session.new", {{"cwd", m.f.d->project()}, {"prompt", prompt}})["id"];
  }
  TempDir t;
  std::unique_ptr<Machine> a, b;
};

TEST_F(HostsE2E, LsRunAndApproveReachTheNamedMachineOnly) {
  auto watch_a = a->f.d->connect(true);
  std::string on_a = new_session(*a, "ask me");
  EventLog log_a(*watch_a, on_a);
  ASSERT_TRUE(log_a.wait_kind("approval_requested", 20000));
  std::string approval = log_a.of_kind("approval_requested")[0]["payload"]["id"];

  std::string out;
  ASSERT_EQ(ccmux({"--host", "a", "ls"}, &out), 0) << out;
  EXPECT_NE(out.find(on_a), std::string::npos) << out;
  EXPECT_NE(out.find("pending"), std::string::npos) << out;
  ASSERT_EQ(ccmux({"--host", "b", "ls"}, &out), 0) << out;
  EXPECT_EQ(out.find(on_a), std::string::npos) << "b lists a's session:\n" << out;

  // run on b: started there, streamed here until its result.
  ASSERT_EQ(ccmux({"--host", "b", "run", "--cwd", b->f.d->project(), "hello from afar"}, &out), 0) << out;
  EXPECT_NE(out.find("hello from afar"), std::string::npos) << out;
  json on_b = b->f.d->connect()->request("session.list")["sessions"];
  ASSERT_EQ(on_b.size(), 1u) << on_b;
  EXPECT_EQ(on_b[0]["cwd"], b->f.d->project());
  EXPECT_NE(out.find(on_b[0]["id"].get<std::string>()), std::string::npos) << out;
  EXPECT_EQ(a->f.d->connect()->request("session.list")["sessions"].size(), 1u) << "run on b started nothing on a";

  ASSERT_EQ(ccmux({"--host", "a", "status"}, &out), 0) << out;
  EXPECT_NE(out.find("sessions   1: "), std::string::npos) << out;
  EXPECT_NE(out.find("approvals  1 pending"), std::string::npos) << out;
  ASSERT_EQ(ccmux({"--host", "a", "approvals"}, &out), 0) << out;
  EXPECT_NE(out.find(approval), std::string::npos) << out;
  ASSERT_EQ(ccmux({"--host", "b", "approve", approval}, &out), 1) << "b has no such approval:\n" << out;
  ASSERT_EQ(ccmux({"--host", "a", "approve", approval}, &out), 0) << out;
  EXPECT_NE(out.find(approval + ": allow"), std::string::npos) << out;
  ASSERT_TRUE(log_a.wait_kind("result", 20000)) << "the approved turn did not finish on a";
  ASSERT_EQ(ccmux({"--host", "a", "send", on_a, "and then"}, &out), 0) << out;
  ASSERT_TRUE(log_a.wait_for([&](const json&) { return log_a.of_kind("result").size() == 2; }, 20000))
      << "the prompt sent through --host did not run on a";
  EXPECT_EQ(log_a.of_kind("result")[1]["payload"]["result"], "and then");
  json audit = a->f.d->connect()->request("approvals.list", {{"all", true}})["approvals"];
  ASSERT_EQ(audit.size(), 1u) << audit;
  EXPECT_EQ(audit[0]["decision"], "allow");
  // Answered through a's transport-ws with the token hosts.yaml names ("laptop"), by the CLI.
  EXPECT_EQ(audit[0]["decided_by"], "client:plugin:transport-ws:ws:laptop@127.0.0.1:cli");
}

// A third machine reached over transport-grpc (plain text on loopback, a token): the same
// ccmux drives a over WebSocket and c over gRPC, and --all-hosts lists both, then reports c down.
TEST_F(HostsE2E, OneCcmuxDrivesOneMachineOverGrpcAndAnotherOverWebSocket) {
  int grpc_port = free_tcp_port();
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: transport-grpc\n    search_dir: " + build_dir() +
                 "/plugins\n    required: true\n    plaintext: true\n    port: " + std::to_string(grpc_port) + "\n";
  FakeDaemon c(o);
  std::string token = c.d->connect()->request("token.create", {{"name", "laptop"}})["token"];
  write_file(cfg() + "/ccmux/c.token", token + "\n");
  chmod((cfg() + "/ccmux/c.token").c_str(), 0600);
  write_file(cfg() + "/ccmux/hosts.yaml", read_file(cfg() + "/ccmux/hosts.yaml") +
                                              "  - name: c\n"
                                              "    address: 127.0.0.1:" + std::to_string(grpc_port) + "\n"
                                              "    transport: grpc\n"
                                              "    token_file: c.token\n");
  std::string on_a = new_session(*a, "on a");
  auto watch_c = c.d->connect(true);
  std::string out;
  // run on c over gRPC: started there, streamed back here.
  ASSERT_EQ(ccmux({"--host", "c", "run", "--cwd", c.d->project(), "hello over grpc"}, &out), 0) << out;
  EXPECT_NE(out.find("hello over grpc"), std::string::npos) << out;
  json on_c = c.d->connect()->request("session.list")["sessions"];
  ASSERT_EQ(on_c.size(), 1u) << on_c;
  std::string id_c = on_c[0]["id"];
  ASSERT_EQ(ccmux({"--host", "c", "ls"}, &out), 0) << out;
  EXPECT_NE(out.find(id_c), std::string::npos) << out;
  EXPECT_EQ(out.find(on_a), std::string::npos) << "c lists a's session:\n" << out;
  // An approval on c, answered from here over gRPC.
  EventLog log_c(*watch_c, id_c);
  ASSERT_EQ(ccmux({"--host", "c", "send", id_c, "ask me"}, &out), 0) << out;
  ASSERT_TRUE(log_c.wait_kind("approval_requested", 20000));
  std::string approval = log_c.of_kind("approval_requested")[0]["payload"]["id"];
  ASSERT_EQ(ccmux({"--host", "c", "approvals"}, &out), 0) << out;
  EXPECT_NE(out.find(approval), std::string::npos) << out;
  ASSERT_EQ(ccmux({"--host", "c", "approve", approval}, &out), 0) << out;
  json audit = c.d->connect()->request("approvals.list", {{"all", true}})["approvals"];
  ASSERT_EQ(audit.size(), 1u) << audit;
  EXPECT_EQ(audit[0]["decided_by"], "client:plugin:transport-grpc:grpc:token:laptop@127.0.0.1:cli");
  // Every machine at once, over both transports; then c stopped is reported, a still listed.
  ASSERT_EQ(ccmux({"ls", "--all-hosts"}, &out), 0) << out;
  EXPECT_NE(out.find("\na            " + on_a), std::string::npos) << out;
  EXPECT_NE(out.find("\nc            " + id_c), std::string::npos) << out;
  c.d->stop_sessions();
  ASSERT_EQ(ccmux({"ls", "--all-hosts"}, &out), 0) << out;
  EXPECT_NE(out.find("\na            " + on_a), std::string::npos) << out;
  EXPECT_EQ(out.find(id_c), std::string::npos) << out;
  EXPECT_NE(out.find("ccmux: c: down ("), std::string::npos) << out;
}

TEST_F(HostsE2E, AllHostsListsEveryMachineAndReportsTheStoppedOne) {
  std::string on_a = new_session(*a, "one");
  std::string on_b = new_session(*b, "two");
  std::string out;
  ASSERT_EQ(ccmux({"ls", "--all-hosts"}, &out), 0) << out;
  EXPECT_NE(out.find("HOST"), std::string::npos) << out;
  EXPECT_NE(out.find("\na            " + on_a), std::string::npos) << out;
  EXPECT_NE(out.find("\nb            " + on_b), std::string::npos) << out;
  EXPECT_EQ(out.find("local"), std::string::npos) << "no local ccmuxd runs, none is listed:\n" << out;

  int b_port = b->port;
  b->f.d->stop_sessions();  // b's ccmuxd is gone (its port closed)
  ASSERT_FALSE(port_open(b_port));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(ccmux({"ls", "--all-hosts"}, &out), 0) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_NE(out.find("\na            " + on_a), std::string::npos) << out;
  EXPECT_EQ(out.find(on_b), std::string::npos) << out;
  EXPECT_NE(out.find("ccmux: b: down (cannot reach ccmuxd at ws://127.0.0.1:" + std::to_string(b_port) +
                     "/ws: Connection refused)\n"),
            std::string::npos)
      << out;

  // The local ccmuxd, when one runs, is listed too (here it is a's, seen through its socket).
  ASSERT_EQ(ccmux({"ls", "--all-hosts", "--json"}, &out, a->f.d->socket()), 0) << out;
  json listed = json::parse(out.substr(0, out.find("ccmux: b: down")));
  ASSERT_EQ(listed.size(), 2u) << listed;
  EXPECT_EQ(listed[0]["host"], "local");
  EXPECT_EQ(listed[0]["id"], on_a);
  EXPECT_EQ(listed[1]["host"], "a");
  EXPECT_EQ(listed[1]["id"], on_a);

  a->f.d->stop_sessions();
  EXPECT_EQ(ccmux({"ls", "--all-hosts"}, &out), 2) << "no machine answered:\n" << out;
  EXPECT_NE(out.find("ccmux: a: down"), std::string::npos) << out;
  EXPECT_NE(out.find("ccmux: b: down"), std::string::npos) << out;
}

TEST_F(HostsE2E, AllHostsGivesUpOnAMachineThatNeverAnswersAndListsTheOthers) {
  // A port that takes TCP connections (the kernel's backlog) but never answers the upgrade:
  // a machine hung, or a firewall that lets the SYN through.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::string hosts = read_file(cfg() + "/ccmux/hosts.yaml");
  write_file(cfg() + "/ccmux/hosts.yaml", hosts + "  - name: hung\n    address: 127.0.0.1:" + std::to_string(ntohs(sa.sin_port)) +
                                              "\n    token_file: a.token\n    timeout: 1\n");
  std::string on_a = new_session(*a, "one");
  std::string out;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(ccmux({"ls", "--all-hosts", "--timeout", "1"}, &out), 0) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "waited for the hung machine";
  EXPECT_NE(out.find("\na            " + on_a), std::string::npos) << out;
  EXPECT_NE(out.find("ccmux: hung: down (WebSocket handshake with ws://127.0.0.1:" + std::to_string(ntohs(sa.sin_port)) +
                     "/ws: no answer within 1 s)"),
            std::string::npos)
      << out;

  // Asked alone, the hung machine is given up after its own `timeout`: unreachable, exit 2.
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ccmux({"--host", "hung", "ls"}, &out), 2) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "waited for the hung machine";
  EXPECT_NE(out.find("ccmux: host 'hung': WebSocket handshake with ws://127.0.0.1:" + std::to_string(ntohs(sa.sin_port)) +
                     "/ws: no answer within 1 s"),
            std::string::npos)
      << out;
}

TEST_F(HostsE2E, AttachOverHostResumesFromTheNextSeqWhenTheMachineRestarts) {
  std::string id = new_session(*a, "one two three");
  {
    auto c = a->f.d->connect();
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_kind("result", 20000));
  }
  // ccmux --host a attach ID --json, in the background, into a file.
  std::string out_path = t.path + "/attach.out";
  std::vector<std::string> args = {ccmux_bin(), "--host", "a", "attach", id, "--json"};
  std::vector<std::string> envs = env();
  envs.push_back("PATH=/usr/bin:/bin");
  std::vector<char*> argv, envp;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : envs) envp.push_back(s.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::string err_path = t.path + "/attach.err";  // --json: stdout holds events only
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  struct Reap {
    pid_t pid;
    ~Reap() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  auto results = [&] {
    std::string text = read_file(out_path);
    size_t n = 0;
    for (size_t at = 0; (at = text.find("\"kind\":\"result\"", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return results() == 1; })) << read_file(out_path);

  // a's ccmuxd restarts (its session held, issue 13); the attach reconnects by itself.
  a->f.d->terminate();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  a->f.d->start();
  ASSERT_TRUE(eventually([&] { return port_open(a->port); }));
  a->f.d->connect()->request("session.send", {{"session", id}, {"prompt", "four five"}});
  ASSERT_TRUE(eventually([&] { return results() == 2; }, 40000)) << read_file(out_path);

  // Every event once, in seq order from 1: nothing missed or repeated across the reconnect.
  std::istringstream lines(read_file(out_path));
  std::string line;
  uint64_t expect = 1;
  while (std::getline(lines, line)) {
    json ev = json::parse(line, nullptr, false);
    ASSERT_FALSE(ev.is_discarded()) << "a line on --json's stdout that is not JSON: " << line;
    ASSERT_EQ(ev.value("seq", uint64_t{0}), expect) << line;
    ++expect;
  }
  // The "connection lost; reconnecting" notice is for the person: on stderr.
  EXPECT_NE(read_file(err_path).find("reconnecting"), std::string::npos)
      << "the restart went unnoticed: nothing was tested\n" << read_file(err_path);
  EXPECT_GT(expect, 8u) << "two turns' events";
}

// `MACHINE/s-…` and `MACHINE/a-…` on the direct path (docs/fleet.md, "Addressing"), with no
// fleet plugin anywhere: an id prefixed with a machine of hosts.yaml reaches that machine with
// the prefix stripped, without --host; any other prefix goes unchanged to the local daemon.
TEST_F(HostsE2E, PrefixedIdsOfAHostsYamlMachineGoThereDirectlyWithoutAnyFleet) {
  auto watch_b = b->f.d->connect(true);
  std::string on_b = new_session(*b, "ask me");
  EventLog log_b(*watch_b, on_b);
  ASSERT_TRUE(log_b.wait_kind("approval_requested", 20000));
  std::string approval = log_b.of_kind("approval_requested")[0]["payload"]["id"];
  // The local daemon is a's: whatever reaches it instead of b shows as a refusal or on a.
  std::string local = a->f.d->socket();
  std::string out;

  ASSERT_EQ(ccmux({"attach", "b/" + on_b, "--no-follow", "--json"}, &out, local), 0) << out;
  EXPECT_NE(out.find("\"session\":\"" + on_b + "\""), std::string::npos) << "b's stored events:\n" << out;
  EXPECT_NE(out.find("\"kind\":\"approval_requested\""), std::string::npos) << out;
  // As text, ids are shown as typed back: with the machine.
  ASSERT_EQ(ccmux({"attach", "b/" + on_b, "--no-follow"}, &out, local), 0) << out;
  EXPECT_NE(out.find("? approval b/" + approval + " [b/" + on_b + "]"), std::string::npos) << out;
  ASSERT_EQ(ccmux({"approve", "b/" + approval}, &out, local), 0) << out;
  EXPECT_NE(out.find("b/" + approval + ": allow"), std::string::npos) << "printed as typed:\n" << out;
  ASSERT_TRUE(log_b.wait_kind("result", 20000)) << "the approval answered as b/a-… did not reach b";
  json audit = b->f.d->connect()->request("approvals.list", {{"all", true}})["approvals"];
  ASSERT_EQ(audit.size(), 1u) << audit;
  EXPECT_EQ(audit[0]["decided_by"], "client:plugin:transport-ws:ws:laptop@127.0.0.1:cli");

  ASSERT_EQ(ccmux({"send", "b/" + on_b, "and then"}, &out, local), 0) << out;
  EXPECT_NE(out.find("for b/" + on_b), std::string::npos) << out;
  ASSERT_TRUE(log_b.wait_for([&](const json&) { return log_b.of_kind("result").size() == 2; }, 20000))
      << "the prompt sent to b/s-… did not run on b";
  EXPECT_EQ(log_b.of_kind("result")[1]["payload"]["result"], "and then");
  ASSERT_EQ(ccmux({"mode", "b/" + on_b, "plan"}, &out, local), 0) << out;
  EXPECT_EQ(b->f.d->connect()->request("session.list")["sessions"][0]["permission_mode"], "plan");
  ASSERT_EQ(ccmux({"attach", "b/" + on_b, "--from", "3", "--no-follow", "--json"}, &out, local), 0) << out;
  EXPECT_EQ(out.rfind("{", 0), 0u) << out;
  EXPECT_EQ(json::parse(out.substr(0, out.find('\n')))["seq"], 3) << "--from applies on the direct path too:\n" << out;
  EXPECT_TRUE(a->f.d->connect()->request("session.list")["sessions"].empty()) << "nothing of this reached a";

  // A prefix hosts.yaml does not name: unchanged to the local daemon, which has no such
  // session (a fleet would route it); nothing reached b.
  EXPECT_EQ(ccmux({"send", "elsewhere/" + on_b, "not for b"}, &out, local), 1) << out;
  EXPECT_EQ(out.find("hosts.yaml"), std::string::npos) << out;
  // With the global --host, the id goes to that machine unchanged: a, which refuses it.
  EXPECT_EQ(ccmux({"--host", "a", "stop", "b/" + on_b}, &out), 1) << out;
  // Without a local daemon, b/s-… still reaches b (the direct path needs none).
  ASSERT_EQ(ccmux({"interrupt", "b/" + on_b}, &out), 0) << out;
  EXPECT_EQ(log_b.of_kind("result").size(), 2u) << "b ran the prompt that was not for it";
  EXPECT_NE(b->f.d->connect()->request("session.list")["sessions"][0]["state"], "exited") << "--host a stopped b's session";
}

// Fleet mode's commands against a daemon without the fleet plugin: a clear refusal.
TEST_F(HostsE2E, LsFleetSaysFleetModeIsOffWithoutTheFleetPlugin) {
  std::string out;
  EXPECT_EQ(ccmux({"ls", "--fleet"}, &out, a->f.d->socket()), 1) << out;
  EXPECT_NE(out.find("ccmux: fleet mode is off: enable the fleet plugin (docs/fleet.md)"), std::string::npos) << out;
  EXPECT_EQ(ccmux({"--host", "b", "ls", "--fleet", "--json"}, &out), 1) << out;
  EXPECT_NE(out.find("fleet mode is off"), std::string::npos) << out;
}

// No daemon needed: what ccmux refuses before it connects anywhere.
TEST(HostsCli, LocalOnlyCommandsUnknownHostsAndOpenTokenFilesAreRefused) {
  TempDir t;
  std::string cfg = t.path + "/cfg";
  std::filesystem::create_directories(cfg + "/ccmux");
  write_file(cfg + "/ccmux/a.token", "ccmux_x\n");
  chmod((cfg + "/ccmux/a.token").c_str(), 0600);
  write_file(cfg + "/ccmux/open.token", "ccmux_x\n");
  chmod((cfg + "/ccmux/open.token").c_str(), 0644);
  write_file(cfg + "/ccmux/hosts.yaml", "hosts:\n"
                                        "  - name: a\n    address: 127.0.0.1:1\n    token_file: a.token\n"
                                        "  - name: g\n    address: 127.0.0.1:2\n    transport: grpc\n    token_file: a.token\n"
                                        "  - name: open\n    address: 127.0.0.1:3\n    token_file: open.token\n");
  std::vector<std::string> env = {"XDG_CONFIG_HOME=" + cfg, "CCMUX_DAEMON_SOCKET=" + t.path + "/none.sock"};
  auto run = [&](std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), ccmux_bin());
    return run_command(args, out, env);
  };
  std::string out;
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{"--host", "a", "token", "create", "x"}, "ccmux: `token` does not work with --host a: tokens are made"},
           {{"--host", "a", "certs", "init"}, "ccmux: `certs` does not work with --host a"},
           {{"--host", "a", "hooks", "install"}, "ccmux: `hooks` does not work with --host a"},
           {{"--host", "a", "hook"}, "ccmux: `hook` does not work with --host a"},
           {{"--host", "a", "service", "status"}, "ccmux: `service` does not work with --host a"},
           {{"--host", "a", "doctor"}, "ccmux: `doctor` does not work with --host a"},
           {{"--host", "a", "policy", "test", "x.lua", "--tool", "Bash", "--input", "{}"}, "ccmux: `policy` does not work"},
           {{"--host", "a", "run", "hi"}, "ccmux: with --host, --cwd names the project folder on a"},
           {{"--host", "a", "new"}, "ccmux: with --host, --cwd names the project folder on a"},
           {{"--host", "a", "ls", "--all-hosts"}, "ccmux: ls --all-hosts asks every machine of hosts.yaml; drop --host"},
           {{"new", "--host", "auto"}, "ccmux: with new --host, --cwd names the project folder on that machine"},
           {{"run", "--host", "a", "hi"}, "ccmux: with run --host, --cwd names the project folder"},
           {{"ls", "--fleet", "--all-hosts"}, "ccmux: ls --fleet asks the fleet through one daemon"},
           {{"--host", "nope", "ls"}, "ccmux: no host 'nope' in " + cfg + "/ccmux/hosts.yaml (it lists: a, g, open)"},
           {{"--host", "open", "ls"}, "is open to group or others (mode 0644)"},
       }) {
    EXPECT_EQ(run(c.args, &out), 1) << c.args[2] << ": " << out;
    EXPECT_NE(out.find(c.says), std::string::npos) << c.args[2] << ": " << out;
  }
  EXPECT_EQ(run({"--host", "g", "ls"}, &out), 2) << "nothing listens on port 2:\n" << out;
  EXPECT_NE(out.find("ccmux: host 'g': "), std::string::npos) << out;
  EXPECT_NE(out.find("127.0.0.1:2"), std::string::npos) << out;
  EXPECT_EQ(run({"--host", "a", "ls"}, &out), 2) << "nothing listens on port 1:\n" << out;
  EXPECT_NE(out.find("ccmux: host 'a': cannot reach ccmuxd at ws://127.0.0.1:1/ws: Connection refused"), std::string::npos)
      << out;
  EXPECT_NE(run({"--host", "a", "--socket", "/x", "ls"}, &out), 0) << "--host and --socket together:\n" << out;
  // A hosts.yaml with an error stops every --host command, saying where.
  write_file(cfg + "/ccmux/hosts.yaml", "hosts:\n  - name: a\n    adress: x:1\n");
  EXPECT_EQ(run({"--host", "a", "ls"}, &out), 1) << out;
  EXPECT_NE(out.find(cfg + "/ccmux/hosts.yaml:3:5: key 'hosts.a.adress': unknown key"), std::string::npos) << out;
  EXPECT_EQ(run({"ls", "--all-hosts"}, &out), 1) << out;
  EXPECT_NE(out.find("hosts.yaml:3:5"), std::string::npos) << out;
  // A MACHINE/ prefix makes ccmux read hosts.yaml (and say where it is wrong); a plain id
  // does not (it goes to the local daemon, absent here: exit 2).
  EXPECT_EQ(run({"approve", "a/a-00ff00ff"}, &out), 1) << out;
  EXPECT_NE(out.find("hosts.yaml:3:5"), std::string::npos) << out;
  EXPECT_EQ(run({"stop", "s-1a2b3c4d"}, &out), 2) << out;
  EXPECT_EQ(out.find("hosts.yaml"), std::string::npos) << out;
}

}  // namespace
