#include "run_program.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ccmux::cli {

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string p = dir + "/" + name;
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string first_line(const std::string& text) {
  std::string l = text.substr(0, text.find('\n'));
  while (!l.empty() && (l.back() == ' ' || l.back() == '\r' || l.back() == '\t')) l.pop_back();
  return l;
}

ProgramRun run_program(const std::vector<std::string>& argv, double timeout_s) {
  ProgramRun r;
  std::string exe = argv.at(0).find('/') == std::string::npos ? find_on_path(argv[0]) : argv[0];
  if (exe.empty()) {
    r.output = argv[0] + ": not found on PATH";
    return r;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    r.output = std::string("pipe: ") + strerror(errno);
    return r;
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args[0] = exe.data();
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its children go with it at the deadline
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(p[1], 1);
    dup2(p[1], 2);
    execv(exe.c_str(), args.data());
    _exit(127);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    r.output = std::string("fork: ") + strerror(errno);
    return r;
  }
  r.started = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd fd{p[0], POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(left)) < 0 && errno != EINTR) break;
    if (!(fd.revents & (POLLIN | POLLHUP))) continue;
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // every writer closed (a background grandchild may keep it open: deadline)
    if (r.output.size() < (64u << 10)) r.output.append(buf, static_cast<size_t>(n));
  }
  close(p[0]);
  int status = 0;
  if (!r.timed_out) {
    // Output closed: it exits now, or it closed its output and hangs on (deadline still holds).
    for (;;) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        r.timed_out = true;
        kill(-pid, SIGKILL);
        break;
      }
      usleep(10000);
    }
  }
  if (r.timed_out) waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (r.exit_code == 127 && r.output.empty()) r.output = exe + ": cannot be run";
  return r;
}

}  // namespace ccmux::cli
