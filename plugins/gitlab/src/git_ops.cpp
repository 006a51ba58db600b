#include "git_ops.h"

#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ccmux::gitlab {

namespace {

constexpr size_t kMaxOutput = 64 * 1024;

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, const std::string& cwd, int timeout_s,
                          const std::atomic<bool>* abort) {
  CommandResult r;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    r.output = "pipe: " + std::string(std::strerror(errno));
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: the timeout kills git's children too
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  // Never wait for a password on a terminal nobody watches.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GIT_TERMINAL_PROMPT=", 20) != 0) env_store.emplace_back(*e);
  env_store.emplace_back("GIT_TERMINAL_PROMPT=0");
  std::vector<char*> envp, args;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    r.output = joined(argv) + ": " + std::strerror(rc);
    return r;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  bool timed_out = false;
  char buf[8192];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || (abort && abort->load())) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the command (and its children) closed the pipe
    if (r.output.size() < kMaxOutput) r.output.append(buf, std::min(static_cast<size_t>(got), kMaxOutput - r.output.size()));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    r.output = joined(argv) + (abort && abort->load() ? ": stopped (the plugin is stopping)\n"
                                                       : ": timed out after " + std::to_string(timeout_s) + " s\n") + r.output;
    return r;
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::string> Git::git(const std::string& dir, std::vector<std::string> args) const {
  std::vector<std::string> argv = {"git", "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

CommandResult Git::run(const std::string& dir, std::vector<std::string> args, int timeout_s) const {
  return run_command(git(dir, std::move(args)), "", timeout_s, abort_);
}

std::string Git::fetch(const std::string& clone) const {
  CommandResult r = run(clone, {"fetch", "--prune", "origin"}, 300);
  return r.ok() ? "" : "git fetch --prune origin in " + clone + " failed: " + trimmed(r.output);
}

bool Git::remote_branch_exists(const std::string& clone, const std::string& branch) const {
  return run(clone, {"rev-parse", "--verify", "--quiet", "refs/remotes/origin/" + branch}, 30).ok();
}

Publication Git::publish(const std::string& worktree, const std::string& message, const std::string& branch,
                         bool push) const {
  Publication p;
  auto step = [&](std::vector<std::string> args, CommandResult* out = nullptr) {
    std::string what = "git " + joined(args);
    CommandResult r = run(worktree, std::move(args), 300);
    if (out) *out = r;
    if (!r.ok() && p.error.empty()) p.error = what + " failed: " + trimmed(r.output);
    return r.ok();
  };
  CommandResult status;
  if (!step({"status", "--porcelain"}, &status)) return p;
  if (!trimmed(status.output).empty()) {
    if (!step({"add", "-A"})) return p;
    std::vector<std::string> commit;
    CommandResult who = run(worktree, {"config", "user.email"}, 30);
    if (trimmed(who.output).empty()) {  // no identity in the clone: the configured author
      std::string name = author_, email = "ccmux@localhost";
      if (auto lt = author_.find('<'); lt != std::string::npos) {
        name = trimmed(author_.substr(0, lt));
        email = author_.substr(lt + 1, author_.find('>', lt) - lt - 1);
      }
      if (name.empty()) name = "ccmux";
      commit = {"-c", "user.name=" + name, "-c", "user.email=" + email};
    }
    commit.insert(commit.end(), {"commit", "--no-verify", "-q", "-m", message});
    if (!step(commit)) return p;
    p.changed = true;
  }
  // The commits origin does not have: the one just made and any the session made itself.
  CommandResult log;
  if (!step({"log", "--format=%h %s", "-n", "50", "HEAD", "--not", "--remotes=origin"}, &log)) return p;
  p.commits = lines_of(log.output);
  if (!push || p.commits.empty()) return p;
  if (!step({"push", "origin", "HEAD:refs/heads/" + branch})) return p;
  p.pushed = true;
  return p;
}

}  // namespace ccmux::gitlab
