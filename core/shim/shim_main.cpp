// ccmux-shim: holds one claude process for ccmuxd (core/shim/README.md, docs/holder.md).
//   ccmux-shim --session ID --spool-dir DIR --socket PATH [--cwd DIR] [--env K=V ...]
//              [--segment-bytes N] [--stop-grace S] -- CLAUDE ARGS...
// Start-up errors go to stderr with exit status 2 (usage) or 1 (spool, socket, claude); once
// everything is up it writes "ready holder_pid=N claude_pid=N\n" to stdout, then puts
// /dev/null on its stdin, stdout and stderr and serves until done (exit 0).
#include "version.h"
#include "shim/holder.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

void say(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

int usage(const std::string& why) {
  say(2, "ccmux-shim: " + why +
             "\nusage: ccmux-shim --session ID --spool-dir DIR --socket PATH [--cwd DIR] [--env K=V ...]\n"
             "                  [--segment-bytes N] [--stop-grace SECONDS] -- CLAUDE [ARGS...]\n");
  return 2;
}

bool valid_session(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.'))
      return false;
  return s != "." && s != "..";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ccmux::shim;
  HolderOptions o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--version") {
      say(1, std::string("ccmux-shim ") + ccmux::kVersion + " holder protocol " + std::to_string(kHelloProtocol) + "\n");
      return 0;
    }
    if (a == "--help" || a == "-h") {
      usage("holds one claude process for ccmuxd");
      return 0;
    }
    if (i + 1 >= argc) return usage(std::string(a) + " needs a value");
    std::string v = argv[++i];
    if (a == "--session") {
      if (!valid_session(v)) return usage("--session: letters, digits, '-', '_', '.' (1-128)");
      o.session = v;
    } else if (a == "--spool-dir") {
      o.spool_dir = v;
    } else if (a == "--socket") {
      o.socket_path = v;
    } else if (a == "--cwd") {
      o.cwd = v;
    } else if (a == "--env") {
      auto eq = v.find('=');
      if (eq == 0 || eq == std::string::npos) return usage("--env takes K=V");
      o.env.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--segment-bytes") {
      auto n = parse_u64(v);
      if (!n || *n == 0) return usage("--segment-bytes takes a positive number");
      o.segment_bytes = *n;
    } else if (a == "--stop-grace") {
      auto n = parse_u64(v);
      if (!n || *n > 3600) return usage("--stop-grace takes seconds (0-3600)");
      o.stop_grace_s = static_cast<int>(*n);
    } else {
      return usage("unknown option " + std::string(a));
    }
  }
  for (; i < argc; ++i) o.argv.emplace_back(argv[i]);
  if (o.session.empty() || o.spool_dir.empty() || o.socket_path.empty()) return usage("--session, --spool-dir and --socket are required");
  if (o.spool_dir[0] != '/' || o.socket_path[0] != '/') return usage("--spool-dir and --socket must be absolute paths");
  if (!o.cwd.empty() && o.cwd[0] != '/') return usage("--cwd must be an absolute path");
  if (o.argv.empty()) return usage("no claude command after --");
  while (o.spool_dir.size() > 1 && o.spool_dir.back() == '/') o.spool_dir.pop_back();

  // fds 0-2 open (on /dev/null if need be), so no socket or pipe of ours lands there and is
  // replaced by /dev/null below.
  int fd = open("/dev/null", O_RDWR);
  while (fd >= 0 && fd <= 2) fd = open("/dev/null", O_RDWR);
  if (fd > 2) close(fd);
  // Nothing inherited from ccmuxd stays open but stdio (claude must not get ccmuxd's sockets).
  syscall(SYS_close_range, 3u, ~0u, 0u);
  // Its own session: ccmuxd's terminal, process group and their signals are not the holder's.
  setsid();
  if (o.cwd.empty()) {
    char buf[4096];
    if (getcwd(buf, sizeof buf)) o.cwd = buf;
  }

  Holder h(std::move(o));
  if (std::string err = h.start(); !err.empty()) {
    say(2, "ccmux-shim: " + err + "\n");
    return 1;
  }
  say(1, "ready holder_pid=" + std::to_string(getpid()) + " claude_pid=" + std::to_string(h.claude_pid()) + "\n");
  (void)!chdir("/");  // the holder does not keep the directory it was started in busy
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  return h.run();
}
