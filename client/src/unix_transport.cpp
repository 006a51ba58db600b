#include "ccmux/client/unix_transport.h"

#include "ccmux/client/errors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ccmux::client {

std::unique_ptr<UnixTransport> UnixTransport::connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    ConnectFailure why = err == ENOENT || err == ECONNREFUSED || err == ENOTDIR ? ConnectFailure::not_running
                         : err == EACCES || err == EPERM                          ? ConnectFailure::denied
                                                                                  : ConnectFailure::other;
    throw ConnectError(why, "cannot reach ccmuxd at " + path + ": " + strerror(err) +
                                " (is it running? start it with 'ccmuxd', or set CCMUX_DAEMON_SOCKET)");
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != getuid() && cred.uid != 0)) {
    ::close(fd);
    throw ConnectError(ConnectFailure::foreign_peer, "the socket " + path + " belongs to uid " + std::to_string(cred.uid) +
                                                         ", not to you or root: refusing");
  }
  return std::unique_ptr<UnixTransport>(new UnixTransport(fd, path));
}

UnixTransport::~UnixTransport() { close(); }

void UnixTransport::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void UnixTransport::send(std::string_view message) {
  if (fd_ < 0) throw Disconnected("connection to ccmuxd lost");
  std::string data;
  data.reserve(message.size() + 1);
  data.append(message).push_back('\n');
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Disconnected("connection to ccmuxd lost");
    off += static_cast<size_t>(n);
  }
}

bool UnixTransport::has_buffered() { return in_.find('\n', std::max(in_off_, scanned_)) != std::string::npos; }

std::optional<std::string> UnixTransport::receive(Deadline deadline) {
  for (;;) {
    size_t nl = in_.find('\n', std::max(in_off_, scanned_));
    if (nl != std::string::npos) {
      std::string line = in_.substr(in_off_, nl - in_off_);
      in_off_ = scanned_ = nl + 1;
      if (in_off_ > (1u << 20) || in_off_ == in_.size()) {  // compact now and then, not per line
        in_.erase(0, in_off_);
        in_off_ = scanned_ = 0;
      }
      return line;
    }
    scanned_ = in_.size();
    if (fd_ < 0) throw Disconnected("connection to ccmuxd lost");
    int timeout_ms = -1;
    if (deadline != kForever) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
    }
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) return std::nullopt;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Disconnected("connection to ccmuxd lost");
    in_.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace ccmux::client
