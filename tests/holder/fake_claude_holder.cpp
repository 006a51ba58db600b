// A scripted stand-in for claude under ccmux-shim (tests/holder/holder_test.cpp). Options:
//   --echo FILE        every byte read on stdin is appended to FILE as it arrives
//   --emit FILE        FILE's bytes are written to stdout at start, unchanged
//   --exit N           after --emit (and --stderr-bytes), exit N without reading stdin
//   --stderr-bytes N   N bytes of numbered lines to stderr at start
//   --ignore-term      SIGTERM ignored (stop must come to SIGKILL)
//   --grandchild FILE  a child in claude's process group writes its pid to FILE and waits
//   --no-read          never read stdin (waits until killed or alarm)
//   --stdout-pipe N    grow the stdout pipe to N bytes (more output left in it when it exits)
// Lines on stdin starting "#fake " are commands: "exit N", "spam N" (N bytes of lines to
// stdout), "emit FILE", "wait-for FILE" (read nothing more until FILE exists). Nothing here waits more than 60 s: alarm(60) ends it whatever happens.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "spam_bytes.h"

namespace {

void put(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) _exit(90);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void emit_file(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) _exit(91);
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) put(1, buf, static_cast<size_t>(n));
  close(fd);
}

void spam(size_t n) {
  std::string out = spam_bytes(n);
  put(1, out.data(), out.size());
}

}  // namespace

int main(int argc, char** argv) {
  alarm(60);
  const char *echo = nullptr, *emit = nullptr, *grandchild = nullptr;
  int exit_code = -1;
  long stderr_bytes = 0;
  bool no_read = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&] { return i + 1 < argc ? argv[++i] : (_exit(92), nullptr); };
    if (a == "--echo") echo = val();
    else if (a == "--emit") emit = val();
    else if (a == "--exit") exit_code = atoi(val());
    else if (a == "--stderr-bytes") stderr_bytes = atol(val());
    else if (a == "--ignore-term") signal(SIGTERM, SIG_IGN);
    else if (a == "--grandchild") grandchild = val();
    else if (a == "--no-read") no_read = true;
    else if (a == "--stdout-pipe") {
      if (fcntl(1, F_SETPIPE_SZ, atoi(val())) < 0) _exit(93);
    }
  }
  if (grandchild) {
    pid_t p = fork();
    if (p == 0) {
      close(0);
      close(1);
      close(2);
      std::string pid = std::to_string(getpid()) + "\n";
      std::string tmp = std::string(grandchild) + ".tmp";
      int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      put(fd, pid.data(), pid.size());
      close(fd);
      rename(tmp.c_str(), grandchild);
      pause();  // until killed, or alarm(60)
      _exit(0);
    }
  }
  if (emit) emit_file(emit);
  if (stderr_bytes > 0) {
    std::string e;
    for (long n = 0; static_cast<long>(e.size()) < stderr_bytes; ++n) e += "stderr line " + std::to_string(n) + "\n";
    e.resize(static_cast<size_t>(stderr_bytes));
    put(2, e.data(), e.size());
  }
  if (exit_code >= 0) return exit_code;
  if (no_read) pause();
  int echo_fd = echo ? open(echo, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
  std::string line;
  char buf[65536];
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0) continue;
    if (n == 0) return 0;
    if (echo_fd >= 0) put(echo_fd, buf, static_cast<size_t>(n));
    line.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = line.find('\n')) != std::string::npos; line.erase(0, nl + 1)) {
      std::string l = line.substr(0, nl);
      if (l.rfind("#fake ", 0) != 0) continue;
      std::string cmd = l.substr(6), arg;
      if (auto sp = cmd.find(' '); sp != std::string::npos) {
        arg = cmd.substr(sp + 1);
        cmd.resize(sp);
      }
      if (cmd == "exit") return atoi(arg.c_str());
      if (cmd == "spam") spam(static_cast<size_t>(atol(arg.c_str())));
      if (cmd == "emit") emit_file(arg.c_str());
      if (cmd == "wait-for")
        while (access(arg.c_str(), F_OK) != 0) usleep(5000);
    }
  }
}
