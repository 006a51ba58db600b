// Test harness: a temp dir, the fake Messages API, a real ccmuxd process, and
// protocol clients that wait for events. Paths come from compile definitions.
#pragma once

#include <ccmux/client/connection.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ccmux {
// The tests and benches say Client for the client library's connection.
using Client = client::Connection;
using client::RequestFailed;
using client::Unreachable;
}  // namespace ccmux

namespace ccmux::test {

using nlohmann::json;

struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
};

// Any python3 test server that prints "PORT <n>" first (fake Telegram Bot API, …).
class ScriptServer {
 public:
  ScriptServer(const std::string& script, const std::vector<std::string>& args,
               const std::vector<std::string>& env = {});
  ~ScriptServer();
  ScriptServer(const ScriptServer&) = delete;  // one process, one owner
  ScriptServer& operator=(const ScriptServer&) = delete;
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// python3 tests/fake_api/fake_messages_api.py on 127.0.0.1 (a free port).
class FakeApi : public ScriptServer {
 public:
  // dump_path: where the fake writes the tail of each request's messages (NDJSON), or "".
  explicit FakeApi(const std::string& dump_path = "");
};

struct DaemonOptions {
  std::string claude_path;  // empty: the real claude on PATH
  std::string extra_yaml;   // appended to the generated config
  std::vector<std::string> policies = {"builtin:default"};
  double idle_timeout_s = 600;
  // Tests start with no warm pool (each warm claude is ~300 MB); economy tests turn it on.
  int warm_pool = 0;
  std::vector<std::string> claude_keys;  // more "key: value" lines in the claude section
  std::vector<std::string> approval_keys;  // more "key: value" lines in the approval section
  double approval_timeout_s = 3600;
  std::vector<std::pair<std::string, std::string>> claude_env;  // claude.env entries
  std::string log_level = "debug";
};

// A ccmuxd process with its own HOME, state dir and socket under `dir`.
class Daemon {
 public:
  Daemon(const std::string& dir, const std::string& api_url, DaemonOptions opts = {});
  ~Daemon();
  void start();
  void kill9();
  void terminate();  // SIGTERM and wait (held sessions go on: issue 13)
  // `ccmuxd --stop-sessions`: the running daemon ends every session and exits; with none
  // running, the holders it left are stopped. The destructor does this.
  void stop_sessions();
  std::string socket() const { return dir_ + "/run/ccmuxd.sock"; }
  std::string config_path() const { return dir_ + "/config.yaml"; }
  std::string project() const { return dir_ + "/proj"; }
  std::string log() const;
  pid_t pid() const { return pid_; }
  std::unique_ptr<Client> connect(bool watch_approvals = false) const;

 private:
  std::string dir_;
  std::string api_url_;
  DaemonOptions opts_;
  pid_t pid_ = -1;
};

// A ccmuxd in its own temp dir whose claude is the scripted tests/fake_claude/fake_claude.py
// (unless `claude_path` is set) and whose API URL leads nowhere: the fast tests.
struct FakeDaemon {
  TempDir dir;
  std::unique_ptr<Daemon> d;
  explicit FakeDaemon(DaemonOptions o = {});
};

// Collects the events of one session from a subscription.
class EventLog {
 public:
  EventLog(Client& c, const std::string& session, uint64_t from_seq = 1);
  // Waits until pred holds for some event (true) or the timeout passes (false).
  bool wait_for(const std::function<bool(const json& ev)>& pred, int timeout_ms = 60000);
  bool wait_kind(const std::string& kind, int timeout_ms = 60000);
  const std::vector<json>& events() const { return events_; }
  std::vector<json> of_kind(const std::string& kind) const;
  std::string streamed_text() const;  // the text_delta pieces, joined

 private:
  Client& c_;
  std::string session_;
  std::vector<json> events_;
};

// Polls `pred` every 100 ms until it holds (true) or `timeout_ms` passed (false, after one
// last look): a bounded wait for something asynchronous, never a sleep that hopes.
bool eventually(const std::function<bool()>& pred, int timeout_ms = 20000);

// Runs a command; returns exit code, stdout in `out`.
int run_command(const std::vector<std::string>& argv, std::string* out, const std::vector<std::string>& env = {});
// The same, with `input` written to the command's stdin (then closed).
int run_command_with_input(const std::vector<std::string>& argv, const std::string& input, std::string* out,
                           const std::vector<std::string>& env = {});
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);
std::string ccmux_bin();
std::string ccmuxd_bin();
std::string source_dir();
std::string build_dir();
std::string fake_claude_path();  // tests/fake_claude/fake_claude.py

}  // namespace ccmux::test
