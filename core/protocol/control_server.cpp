#include "protocol/control_server.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace ccmux {

ControlServer::ControlServer(Core& core, std::string path) : core_(core), path_(std::move(path)) {}

ControlServer::~ControlServer() {
  for (auto& [fd, c] : conns_) {
    c->client.reset();
    core_.loop.remove_fd(fd);  // closed with its Conn
  }
  if (listen_fd_) {
    core_.loop.remove_fd(listen_fd_.get());
    unlink(path_.c_str());
  }
}

void ControlServer::start() {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path_).parent_path();
  fs::create_directories(dir);
  // The socket's folder (and a /tmp fallback folder above it) must be ours, not a symlink
  // someone else planted, and closed to others.
  for (fs::path d : {dir.parent_path(), dir}) {
    if (d != dir && d.filename().string().rfind("ccmux-", 0) != 0) continue;
    struct stat st {};
    if (lstat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
      throw std::runtime_error(d.string() + " is not a directory owned by this user: refusing to put the socket there");
    chmod(d.c_str(), 0700);
  }
  sockaddr_un addr{};
  if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path_);
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!sock) throw std::system_error(errno, std::generic_category(), "socket");
  // A socket file left by a dead daemon is removed; a live daemon answers connect().
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (probe && connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
    throw std::runtime_error("another ccmuxd is listening on " + path_);
  probe.reset();
  unlink(path_.c_str());
  mode_t old = umask(0177);  // the socket is created 0600
  int rc = bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0) throw std::runtime_error("cannot bind " + path_ + ": " + strerror(errno));
  chmod(path_.c_str(), 0600);
  if (listen(sock.get(), 64) != 0) throw std::runtime_error("cannot listen on " + path_ + ": " + strerror(errno));
  listen_fd_ = std::move(sock);  // only now: the destructor unlinks the path of a socket we bound
  core_.loop.add_fd(listen_fd_.get(), EPOLLIN, [this](uint32_t) { on_accept(); });
  core_.loop.add_before_sleep([this] { flush_dirty(); });
  spdlog::info("control socket {}", path_);
}

void ControlServer::on_accept() {
  for (;;) {
    UniqueFd sock(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!sock) return;
    const int fd = sock.get();
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != getuid() && cred.uid != 0)) {
      spdlog::warn("control socket: refused peer uid {} pid {}", cred.uid, cred.pid);
      continue;  // closed by `sock`
    }
    auto conn = std::make_unique<Conn>();
    conn->fd = std::move(sock);
    Conn* c = conn.get();
    std::string name = "local:pid" + std::to_string(cred.pid);
    conn->client = std::make_unique<ProtocolClient>(
        core_, name,
        [this, c](const std::string& msg) {
          if (c->closing) return;
          c->out.append(msg);
          c->out.push_back('\n');
          if (c->out.size() - c->out_off > kMaxQueued) {
            spdlog::warn("control socket: client fd {} too slow, disconnecting", c->fd.get());
            c->closing = true;
            schedule_close(c);
            return;
          }
          // Batched: one send per loop turn (or per 256 KiB), not one per event.
          if (c->out.size() - c->out_off >= (256u << 10)) {
            flush(*c);
            if (c->closing) schedule_close(c);
          } else if (!c->dirty) {
            c->dirty = true;
            dirty_.push_back(c->fd.get());
          }
        },
        [c] { return c->out.size() - c->out_off < kPauseReplayAt; }, /*trusted=*/true);
    conns_[fd] = std::move(conn);
    core_.loop.add_fd(fd, EPOLLIN, [this, fd](uint32_t ev) { on_conn(fd, ev); });
  }
}

void ControlServer::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      core_.loop.modify_fd(c.fd.get(), EPOLLIN | EPOLLOUT);
      return;
    }
    c.closing = true;  // peer gone
    return;
  }
  c.out.clear();
  c.out_off = 0;
  core_.loop.modify_fd(c.fd.get(), EPOLLIN);
}

void ControlServer::on_conn(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (events & EPOLLOUT) {
    flush(c);
    if (c.out_off == 0 && !c.closing) c.client->resume();  // replay continues
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      c.closing = true;  // EOF or error
      break;
    }
    size_t start = 0;
    // Only new bytes are searched: a 64 MiB message in 64 KiB reads is one pass, not a thousand.
    for (size_t from = std::min(c.scanned, c.in.size());;) {
      size_t nl = c.in.find('\n', from);
      if (nl == std::string::npos) break;
      std::string_view line(c.in.data() + start, nl - start);
      if (!line.empty()) c.client->handle(line);
      start = from = nl + 1;
      if (conns_.find(fd) == conns_.end()) return;
    }
    c.in.erase(0, start);
    c.scanned = c.in.size();
    if (c.in.size() > kMaxMessage) {
      c.client->send({{"type", "error"}, {"code", "message_too_large"},
                      {"message", "message exceeds " + std::to_string(kMaxMessage) + " bytes; connection closed"}});
      flush(c);
      c.closing = true;
    }
  }
  if (c.closing) close_conn(fd);
}

void ControlServer::flush_dirty() {
  // A drained connection resumes its replay, which queues more: a few rounds here, then
  // the rest after one turn of the loop so other connections and sessions get served.
  for (int round = 0; round < 8 && !dirty_.empty(); ++round) {
    std::vector<int> fds;
    fds.swap(dirty_);
    for (int fd : fds) {
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      Conn& c = *it->second;
      c.dirty = false;
      flush(c);
      if (c.closing) close_conn(fd);
      else if (c.out_off == 0 && c.out.empty()) c.client->resume();  // all sent: replay continues
    }
  }
  if (!dirty_.empty()) core_.loop.post([] {});  // wake at once instead of sleeping
}

void ControlServer::schedule_close(Conn* c) {
  int fd = c->fd.get();
  core_.loop.post([this, fd, c] {
    auto it = conns_.find(fd);
    if (it != conns_.end() && it->second.get() == c) close_conn(fd);
  });
}

void ControlServer::close_conn(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  it->second->client.reset();
  core_.loop.remove_fd(fd);
  conns_.erase(it);  // closes the fd
}

}  // namespace ccmux
