#include "harness.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace ccmux::test {
namespace fs = std::filesystem;

std::string source_dir() { return CCMUX_SOURCE_DIR; }
std::string build_dir() { return CCMUX_BUILD_DIR; }
std::string fake_claude_path() { return source_dir() + "/tests/fake_claude/fake_claude.py"; }
std::string ccmux_bin() { return CCMUX_BIN; }
std::string ccmuxd_bin() { return CCMUXD_BIN; }

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "ccmux-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}
TempDir::~TempDir() {
  if (!std::getenv("CCMUX_KEEP_TEST_DIRS")) {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

namespace {
std::vector<std::string> base_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("CCMUX_", 0) == 0 || kv.rfind("JOURNAL_STREAM=", 0) == 0 || kv.rfind("NOTIFY_SOCKET=", 0) == 0 ||
        kv.rfind("ANTHROPIC_", 0) == 0 || kv.rfind("XDG_", 0) == 0 || kv.rfind("HOME=", 0) == 0)
      continue;
    env.push_back(kv);
  }
  // An extra variable replaces the inherited one (PATH=...): getenv would see the first.
  for (auto& x : extra) {
    std::string name = x.substr(0, x.find('=') + 1);
    std::erase_if(env, [&](const std::string& kv) { return kv.rfind(name, 0) == 0; });
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int out_fd, int err_fd,
            int in_fd = -1) {
  pid_t pid = fork();
  if (pid == 0) {
    if (in_fd >= 0) dup2(in_fd, 0);
    if (out_fd >= 0) dup2(out_fd, 1);
    if (err_fd >= 0) dup2(err_fd, 2);
    setpgid(0, 0);
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    for (auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
    e.push_back(nullptr);
    execve(a[0], a.data(), e.data());
    _exit(127);
  }
  return pid;
}
}  // namespace

namespace {
// Runs argv with stdout+stderr captured; `input` (when given) is written to its stdin.
int run_captured(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string* input,
                 std::string* out) {
  int p[2], in[2] = {-1, -1};
  // Close-on-exec: the child must not hold the write end of its own stdin (it would never see EOF).
  if (pipe2(p, O_CLOEXEC) != 0 || (input && pipe2(in, O_CLOEXEC) != 0)) return -1;
  pid_t pid = spawn(argv, base_env(env), p[1], p[1], in[0]);
  close(p[1]);
  if (input) {
    close(in[0]);
    if (write(in[1], input->data(), input->size()) < 0) {
    }
    close(in[1]);
  }
  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (out) *out = data;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
}  // namespace

bool eventually(const std::function<bool()>& pred, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

int run_command(const std::vector<std::string>& argv, std::string* out, const std::vector<std::string>& env) {
  return run_captured(argv, env, nullptr, out);
}

int run_command_with_input(const std::vector<std::string>& argv, const std::string& input, std::string* out,
                           const std::vector<std::string>& env) {
  return run_captured(argv, env, &input, out);
}

FakeApi::FakeApi(const std::string& dump_path)
    : ScriptServer(source_dir() + "/tests/fake_api/fake_messages_api.py", {"0"},
                   dump_path.empty() ? std::vector<std::string>{} : std::vector<std::string>{"FAKE_API_DUMP=" + dump_path}) {}

ScriptServer::ScriptServer(const std::string& script, const std::vector<std::string>& args,
                           const std::vector<std::string>& env) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  std::vector<std::string> argv = {"/usr/bin/python3", script};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, base_env(env), p[1], devnull);
  close(p[1]);
  close(devnull);
  std::string line;
  char c;
  while (read(p[0], &c, 1) == 1 && c != '\n') line += c;
  close(p[0]);
  if (line.rfind("PORT ", 0) != 0) throw std::runtime_error(script + " did not start: " + line);
  port_ = std::stoi(line.substr(5));
}

ScriptServer::~ScriptServer() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

Daemon::Daemon(const std::string& dir, const std::string& api_url, DaemonOptions opts)
    : dir_(dir), api_url_(api_url), opts_(std::move(opts)) {
  fs::create_directories(dir_ + "/home");
  fs::create_directories(project());
  std::ostringstream y;
  y << "daemon:\n  state_dir: " << dir_ << "/state\n  socket: " << socket() << "\n  log_level: " << opts_.log_level << "\n"
    << "claude:\n  idle_timeout: " << opts_.idle_timeout_s << "\n  stop_grace: 3\n  warm_pool: " << opts_.warm_pool << "\n";
  for (auto& line : opts_.claude_keys) y << "  " << line << "\n";
  if (!opts_.claude_path.empty()) y << "  path: " << opts_.claude_path << "\n";
  if (!opts_.claude_env.empty()) {
    y << "  env:\n";
    for (auto& [k, v] : opts_.claude_env) y << "    " << k << ": \"" << v << "\"\n";
  }
  y << "projects:\n  roots: [" << dir_ << "]\n"
    << "approval:\n  timeout: " << opts_.approval_timeout_s << "\n  policies:\n";
  for (auto& p : opts_.policies) y << "    - " << p << "\n";
  for (auto& line : opts_.approval_keys) y << "  " << line << "\n";
  y << opts_.extra_yaml;
  write_file(config_path(), y.str());
  start();
}

FakeDaemon::FakeDaemon(DaemonOptions o) {
  if (o.claude_path.empty()) o.claude_path = fake_claude_path();
  d = std::make_unique<Daemon>(dir.path, "http://127.0.0.1:9", std::move(o));
}

Daemon::~Daemon() {
  try {
    stop_sessions();  // no claude or holder of a test outlives it
  } catch (const std::exception&) {
  }
  if (pid_ > 0) terminate();
}

void Daemon::stop_sessions() {
  std::string out;
  run_command({"/usr/bin/timeout", "60", ccmuxd_bin(), "--config", config_path(), "--stop-sessions"}, &out);
  if (pid_ > 0) {
    for (int i = 0; i < 400; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    terminate();
  }
}

std::string Daemon::log() const { return read_file(dir_ + "/ccmuxd.log"); }

void Daemon::start() {
  int logfd = open((dir_ + "/ccmuxd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  pid_ = spawn({ccmuxd_bin(), "--config", config_path()},
               base_env({"HOME=" + dir_ + "/home", "ANTHROPIC_BASE_URL=" + api_url_, "ANTHROPIC_API_KEY=dummy-test-key",
                         "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_AUTOUPDATER=1"}),
               logfd, logfd);
  close(logfd);
  for (int i = 0; i < 200; ++i) {
    try {
      Client c(socket());
      return;
    } catch (const std::exception&) {
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("ccmuxd exited at start:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  throw std::runtime_error("ccmuxd did not come up:\n" + log());
}

void Daemon::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Daemon::terminate() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 400; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::unique_ptr<Client> Daemon::connect(bool watch_approvals) const {
  return std::make_unique<Client>(socket(), watch_approvals);
}

EventLog::EventLog(Client& c, const std::string& session, uint64_t from_seq) : c_(c), session_(session) {
  c_.request("subscribe", {{"session", session}, {"from_seq", from_seq}});
}

bool EventLog::wait_for(const std::function<bool(const json&)>& pred, int timeout_ms) {
  for (auto& e : events_)
    if (pred(e)) return true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    auto msg = c_.next(static_cast<int>(left));
    if (!msg) return false;
    if (msg->value("type", "") != "event" || msg->value("session", "") != session_) continue;
    events_.push_back(*msg);
    if (pred(*msg)) return true;
  }
}

bool EventLog::wait_kind(const std::string& kind, int timeout_ms) {
  return wait_for([&](const json& e) { return e.value("kind", "") == kind; }, timeout_ms);
}

std::vector<json> EventLog::of_kind(const std::string& kind) const {
  std::vector<json> out;
  for (auto& e : events_)
    if (e.value("kind", "") == kind) out.push_back(e);
  return out;
}

std::string EventLog::streamed_text() const {
  std::string text;
  for (auto& e : of_kind("stream_event")) {
    const json& ev = e["payload"]["event"];
    if (ev.value("type", "") == "content_block_delta" && ev["delta"].value("type", "") == "text_delta")
      text += ev["delta"].value("text", "");
  }
  return text;
}

}  // namespace ccmux::test
