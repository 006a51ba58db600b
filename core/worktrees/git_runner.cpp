#include "worktrees/git_runner.h"

#include "errors.h"
#include "unique_fd.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ccmux::worktrees {

namespace {

// git's environment: ours, minus variables that would point it at another repository (a daemon
// started from a git hook inherits GIT_DIR), plus a fixed language so its messages are the
// ones documented, and no prompt for credentials (nobody is at a terminal to answer).
std::vector<std::string> git_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    static const char* const kDropped[] = {"GIT_DIR=", "GIT_WORK_TREE=", "GIT_INDEX_FILE=", "GIT_COMMON_DIR=",
                                           "GIT_OBJECT_DIRECTORY=", "GIT_NAMESPACE=", "GIT_CEILING_DIRECTORIES=",
                                           "LC_ALL=", "LANGUAGE=", "GIT_TERMINAL_PROMPT=", "GIT_OPTIONAL_LOCKS="};
    bool drop = false;
    for (const char* d : kDropped) drop = drop || kv.rfind(d, 0) == 0;
    if (!drop) env.push_back(std::move(kv));
  }
  // No optional locks: `git status` in a worktree a session is using must not take index.lock.
  for (const char* add : {"LC_ALL=C", "LANGUAGE=", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0"}) env.emplace_back(add);
  return env;
}

bool needs_quotes(const std::string& a) {
  if (a.empty()) return true;
  for (char c : a)
    if (!(isalnum(static_cast<unsigned char>(c)) || std::strchr("-_./:=@^{}~+,", c))) return true;
  return false;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string git_command_text(const std::string& dir, const std::vector<std::string>& args) {
  std::string out = "git";
  std::vector<std::string> all = {"-C", dir};
  all.insert(all.end(), args.begin(), args.end());
  for (auto& a : all) {
    out += ' ';
    if (!needs_quotes(a)) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::string GitResult::reason() const {
  std::string last, marked;
  size_t start = 0;
  while (start < err.size()) {
    size_t end = err.find('\n', start);
    if (end == std::string::npos) end = err.size();
    std::string line = err.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) last = line;
    if (line.rfind("fatal:", 0) == 0 || line.rfind("error:", 0) == 0) marked = line;
    start = end + 1;
  }
  std::string r = marked.empty() ? last : marked;
  if (r.size() > 500) r = r.substr(0, 500) + "…";
  return r;
}

namespace {
thread_local const std::atomic<bool>* t_cancel = nullptr;
}

void set_thread_cancel_flag(const std::atomic<bool>* flag) { t_cancel = flag; }

std::string git_failure(const GitResult& r) {
  std::string msg = "`" + r.command + "` ";
  if (!r.spawn_error.empty()) return msg + "could not be started: " + r.spawn_error + " (is git installed and on PATH?)";
  if (r.cancelled) return msg + "was stopped: ccmuxd is shutting down";
  if (r.timed_out) return msg + "took too long and was killed";
  msg += r.exit_code >= 0 ? "failed (exit " + std::to_string(r.exit_code) + ")" : std::string("was killed by a signal");
  std::string why = r.reason();
  return why.empty() ? msg : msg + ": " + why;
}

GitResult git_checked(const std::string& dir, const std::vector<std::string>& args, const char* code,
                      const GitOptions& opts) {
  GitResult r = run_git(dir, args, opts);
  if (!r.ok()) throw CommandError(code, git_failure(r));
  return r;
}

GitResult run_git(const std::string& dir, const std::vector<std::string>& args, const GitOptions& opts) {
  GitResult r;
  r.command = git_command_text(dir, args);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.spawn_error = std::strerror(errno);
    return r;
  }
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.spawn_error = std::strerror(errno);
    return r;
  }
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  std::vector<std::string> argv_s = {"git", "-C", dir};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = git_env();
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  // Nothing of the daemon's (sockets, the database, other sessions' pipes) reaches git or its hooks.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills git and whatever it started (hooks)
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "git", &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  out_w.reset();
  err_w.reset();
  if (rc != 0) {
    r.spawn_error = std::strerror(rc);
    return r;
  }

  double deadline = now_s() + opts.timeout_s;
  struct Stream {
    UniqueFd* fd;
    std::string* text;
    size_t max;
    bool cut = false;
  } streams[2] = {{&out_r, &r.out, opts.max_stdout}, {&err_r, &r.err, opts.max_stderr}};
  char buf[65536];
  while (out_r || err_r) {
    double left = deadline - now_s();
    bool cancel = t_cancel && t_cancel->load();
    if (left <= 0 || cancel) {
      r.timed_out = true;
      r.cancelled = cancel;
      kill(-pid, SIGKILL);
      break;
    }
    if (t_cancel) left = std::min(left, 0.1);  // looks at the cancel flag ten times a second
    pollfd fds[2];
    nfds_t n = 0;
    Stream* which[2];
    for (auto& s : streams)
      if (*s.fd) {
        fds[n] = {s.fd->get(), POLLIN, 0};
        which[n++] = &s;
      }
    int ready = poll(fds, n, static_cast<int>(left * 1000) + 1);
    if (ready < 0 && errno != EINTR) break;
    for (nfds_t i = 0; ready > 0 && i < n; ++i) {
      if (!fds[i].revents) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        which[i]->fd->reset();
        continue;
      }
      Stream& s = *which[i];
      size_t room = s.max > s.text->size() ? s.max - s.text->size() : 0;
      s.text->append(buf, std::min(room, static_cast<size_t>(got)));
      if (static_cast<size_t>(got) > room) s.cut = true;  // read on (git must not block on a full pipe), kept no more
    }
  }
  r.stdout_cut = streams[0].cut;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = !r.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace ccmux::worktrees
