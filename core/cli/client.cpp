#include "client.h"

#include "version.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ccmux {

using nlohmann::json;

Client::Client(const std::string& path, bool watch_approvals) {
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string err = strerror(errno);
    close(fd_);
    fd_ = -1;
    throw Unreachable("cannot reach ccmuxd at " + path + ": " + err +
                      " (is it running? start it with 'ccmuxd', or set CCMUX_DAEMON_SOCKET)");
  }
  // The peer must be our own daemon (same user) or root's: never hand prompts and
  // approvals to a socket someone else put in our path.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != getuid() && cred.uid != 0)) {
    close(fd_);
    fd_ = -1;
    throw Unreachable("the socket " + path + " belongs to uid " + std::to_string(cred.uid) + ", not to you or root: refusing");
  }
  write_line(json{{"type", "hello"}, {"protocol", kProtocolVersion}, {"client", std::string("ccmux/") + kVersion},
                  {"watch_approvals", watch_approvals}}.dump());
  auto line = read_line(10000);
  if (!line) throw Unreachable("ccmuxd did not answer hello");
  json hello = json::parse(*line, nullptr, false);
  if (hello.value("type", "") != "hello")
    throw Unreachable("ccmuxd refused the connection: " + hello.value("message", *line));
}

Client::~Client() {
  if (fd_ >= 0) close(fd_);
}

void Client::write_line(const std::string& line) {
  std::string data = line + "\n";
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Unreachable("connection to ccmuxd lost");
    off += static_cast<size_t>(n);
  }
}

std::optional<std::string> Client::read_line(int timeout_ms) {
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
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) return std::nullopt;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Unreachable("connection to ccmuxd lost");
    in_.append(buf, static_cast<size_t>(n));
  }
}

json Client::request(const std::string& method, const json& params) {
  int64_t id = next_id_++;
  write_line(json{{"type", "request"}, {"id", id}, {"method", method}, {"params", params}}.dump());
  for (;;) {
    auto line = read_line(-1);
    json msg = json::parse(*line, nullptr, false);
    if (msg.is_object() && msg.value("type", "") == "response" && msg.value("id", int64_t{-1}) == id) {
      if (msg.contains("error"))
        throw RequestFailed(msg["error"].value("code", "error"), msg["error"].value("message", "request failed"));
      return msg.value("result", json::object());
    }
    if (msg.is_object() && msg.value("type", "") == "error")
      throw RequestFailed(msg.value("code", "error"), msg.value("message", "error"));
    queued_.push_back(std::move(*line));
  }
}

std::optional<std::string> Client::next_raw(int timeout_ms) {
  if (!queued_.empty()) {
    std::string line = std::move(queued_.front());
    queued_.pop_front();
    return line;
  }
  return read_line(timeout_ms);
}

std::optional<json> Client::next(int timeout_ms) {
  auto line = next_raw(timeout_ms);
  if (!line) return std::nullopt;
  return json::parse(*line, nullptr, false);
}

}  // namespace ccmux
