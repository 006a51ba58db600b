// Benchmark WebSocket clients and a raw libwebsockets server, both on one lws service
// thread each, so ccmuxd's transport and the raw baseline are read by the same code.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string_view>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct lws;
struct lws_context;

namespace ccmux::bench {

// N WebSocket client connections to 127.0.0.1:port read by one epoll thread that only
// splits frames: a measuring instrument that costs the shared cores as little as possible,
// so the figures describe the server. The same reader measures ccmuxd and the raw baseline.
class WsSwarm {
 public:
  using Handler = std::function<void(int conn, std::string_view payload)>;
  WsSwarm(int port, int connections, const std::vector<std::string>& opening, Handler on_message);
  ~WsSwarm();
  bool wait_connected(int) { return true; }  // the constructor returns connected
  void send(int conn, const std::string& text);  // one masked text frame (any thread)

 private:
  void run();
  std::vector<int> fds_;
  std::vector<std::string> rx_;
  Handler handler_;
  int epfd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

// A raw libwebsockets server: echoes every message, and on "go N SIZE" writes N messages of
// SIZE bytes to every connection as fast as each socket takes them (the fan-out baseline).
class RawLwsServer {
 public:
  RawLwsServer();
  ~RawLwsServer();
  int port() const { return port_; }
  struct Peer;
  static int callback(struct lws* wsi, int reason, void* user, void* in, size_t len);

 private:
  lws_context* ctx_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  int port_ = 0;
};

}  // namespace ccmux::bench
