#include "ws_swarm.h"

#include <libwebsockets.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace ccmux::bench {

namespace {
void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("bench client: send failed");
    off += static_cast<size_t>(n);
  }
}
// A client frame must be masked; a zero key is a valid mask and leaves the bytes as they are.
std::string client_frame(const std::string& text) {
  std::string f;
  f.push_back(static_cast<char>(0x81));
  size_t n = text.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 0; i < 8; ++i) f.push_back(static_cast<char>(static_cast<uint64_t>(n) >> (56 - 8 * i)));
  }
  f.append(4, '\0');
  return f + text;
}
}  // namespace

WsSwarm::WsSwarm(int port, int connections, const std::vector<std::string>& opening, Handler on_message)
    : rx_(static_cast<size_t>(connections)), handler_(std::move(on_message)) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  epoll_event se{};
  se.events = EPOLLIN;
  se.data.u32 = UINT32_MAX;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, stop_fd_, &se);
  for (int i = 0; i < connections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bench client: connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    write_all(fd, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n");
    std::string head;
    char ch;
    while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &ch, 1, 0) == 1) head += ch;
    if (head.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("bench client: handshake refused: " + head);
    for (auto& m : opening) write_all(fd, client_frame(m));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    fds_.push_back(fd);
  }
  thread_ = std::thread([this] { run(); });
}

WsSwarm::~WsSwarm() {
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) {
  }
  thread_.join();
  for (int fd : fds_) close(fd);
  close(epfd_);
  close(stop_fd_);
}

void WsSwarm::send(int conn, const std::string& text) { write_all(fds_[static_cast<size_t>(conn)], client_frame(text)); }

void WsSwarm::run() {
  epoll_event evs[128];
  std::vector<char> buf(1 << 18);
  for (;;) {
    int n = epoll_wait(epfd_, evs, 128, -1);
    for (int i = 0; i < n; ++i) {
      uint32_t idx = evs[i].data.u32;
      if (idx == UINT32_MAX) return;
      std::string& rx = rx_[idx];
      for (;;) {
        ssize_t got = ::recv(fds_[idx], buf.data(), buf.size(), 0);
        if (got <= 0) break;
        rx.append(buf.data(), static_cast<size_t>(got));
        if (static_cast<size_t>(got) < buf.size()) break;
      }
      // Split whole frames (server frames are unmasked); keep a partial tail for later.
      size_t off = 0;
      for (;;) {
        if (rx.size() - off < 2) break;
        auto* p = reinterpret_cast<const unsigned char*>(rx.data() + off);
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
          if (rx.size() - off < 4) break;
          len = (uint64_t{p[2]} << 8) | p[3];
          hl = 4;
        } else if (len == 127) {
          if (rx.size() - off < 10) break;
          len = 0;
          for (int k = 0; k < 8; ++k) len = (len << 8) | p[2 + k];
          hl = 10;
        }
        if (rx.size() - off < hl + len) break;
        if ((p[0] & 0x0f) == 0x1) handler_(static_cast<int>(idx), std::string_view(rx.data() + off + hl, len));
        off += hl + len;
      }
      rx.erase(0, off);
    }
  }
}

// ---- raw server ----

struct RawLwsServer::Peer {
  long to_send = 0;      // broadcast messages still owed
  size_t size = 0;
  std::deque<std::string> echo;
};

namespace {
struct RawShared {
  std::mutex mu;
  std::vector<struct lws*> peers;
};
RawShared g_raw;

lws_protocols raw_protocols[] = {
    {"raw", reinterpret_cast<lws_callback_function*>(&RawLwsServer::callback), sizeof(RawLwsServer::Peer), 65536, 0,
     nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0}};
}  // namespace

RawLwsServer::RawLwsServer() {
  lws_set_log_level(LLL_ERR, nullptr);
  lws_context_creation_info info{};
  info.port = 0;  // any free port
  info.iface = "127.0.0.1";
  info.protocols = raw_protocols;
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
  ctx_ = lws_create_context(&info);
  if (!ctx_) throw std::runtime_error("raw lws server");
  port_ = lws_get_vhost_listen_port(lws_get_vhost_by_name(ctx_, "default"));
  thread_ = std::thread([this] {
    while (!stop_.load()) lws_service(ctx_, 0);
  });
}

RawLwsServer::~RawLwsServer() {
  stop_ = true;
  lws_cancel_service(ctx_);
  thread_.join();
  lws_context_destroy(ctx_);
}

int RawLwsServer::callback(struct lws* wsi, int reason, void* user, void* in, size_t len) {
  auto* p = static_cast<Peer*>(user);
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
      new (p) Peer();
      g_raw.peers.push_back(wsi);
      return 0;
    case LWS_CALLBACK_CLOSED:
      std::erase(g_raw.peers, wsi);
      p->~Peer();
      return 0;
    case LWS_CALLBACK_RECEIVE: {
      std::string m(static_cast<const char*>(in), len);
      long n = 0;
      size_t size = 0;
      if (sscanf(m.c_str(), "go %ld %zu", &n, &size) == 2) {
        for (auto* w : g_raw.peers) {
          auto* q = static_cast<Peer*>(lws_wsi_user(w));
          q->to_send = n;
          q->size = size;
          lws_callback_on_writable(w);
        }
        return 0;
      }
      p->echo.push_back(std::move(m));
      lws_callback_on_writable(wsi);
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      // Same write pattern as transport-ws: up to 64 messages per turn while not choked.
      for (int i = 0; i < 64; ++i) {
        std::string body;
        if (!p->echo.empty()) {
          body = std::move(p->echo.front());
          p->echo.pop_front();
        } else if (p->to_send > 0) {
          body.assign(p->size, 'x');
          --p->to_send;
        } else {
          break;
        }
        std::string buf(LWS_PRE, '\0');
        buf += body;
        if (lws_write(wsi, reinterpret_cast<unsigned char*>(buf.data()) + LWS_PRE, body.size(), LWS_WRITE_TEXT) <
            static_cast<int>(body.size()))
          return -1;
        if (lws_send_pipe_choked(wsi)) break;
      }
      if (!p->echo.empty() || p->to_send > 0) lws_callback_on_writable(wsi);
      return 0;
    }
    default:
      return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
  }
}

}  // namespace ccmux::bench
