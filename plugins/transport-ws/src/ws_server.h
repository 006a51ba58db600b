// The libwebsockets server: a WebSocket API carrying docs/protocol.md messages, the web
// page, /healthz and /metrics. libwebsockets runs on a thread of its own; everything that
// touches the daemon runs on the ccmuxd loop thread (through Host::post), so the lws
// thread never blocks on the daemon and the daemon never blocks on a socket.
#pragma once

#include "auth_limiter.h"
#include "conn_limits.h"
#include "connection.h"
#include "metrics.h"
#include "ws_config.h"

#include <ccmux/plugin.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct lws;
struct lws_context;

namespace ccmux::ws {

class WsServer {
 public:
  // Listens at once (throws with the reason when it cannot); serving starts with run().
  WsServer(Host& host, WsConfig config);
  ~WsServer();
  WsServer(const WsServer&) = delete;
  WsServer& operator=(const WsServer&) = delete;

  void run();   // starts the service thread
  void stop();  // loop thread: closes every connection and joins the service thread

  // libwebsockets entry point (the one protocol handles HTTP and WebSocket).
  static int lws_callback(struct lws* wsi, int reason, void* user, void* in, size_t len);

 private:
  using ConnPtr = std::shared_ptr<Connection>;

  // ---- libwebsockets thread ----
  int on_lws(struct lws* wsi, int reason, void* user, void* in, size_t len);
  bool origin_allowed(struct lws* wsi);
  int confirm_upgrade(struct lws* wsi);
  void on_receive(const ConnPtr& c, const void* in, size_t len);
  bool rx_over_budget(const Connection& c) const;
  void pause_rx_if_over_budget(const ConnPtr& c);
  void resume_rx(const ConnPtr& c);
  int on_ws_writeable(const ConnPtr& c);
  void check_stalled(const ConnPtr& c);
  int on_http(struct lws* wsi, uint64_t* slot);
  int on_http_writeable(const ConnPtr& c);
  void wake_dirty();
  ConnPtr find(uint64_t id);

  // ---- loop thread ----
  void handle_message(const ConnPtr& c, const std::string& text);
  void authenticate(const ConnPtr& c, const std::string& text);
  void serve_metrics(const ConnPtr& c, const std::string& token);
  void on_metrics_message(std::string_view msg);
  void on_closed(const ConnPtr& c);
  void on_revoked(const std::string& token_name);

  // ---- any thread ----
  void enqueue(const ConnPtr& c, std::string_view message);
  void send_error_and_close(const ConnPtr& c, const char* code, const std::string& message, int close_code,
                            const std::string& extra_json = "");
  void request_close(const ConnPtr& c, int code, const std::string& reason, bool now);
  void mark_dirty(const ConnPtr& c);
  TransportCounters snapshot() const;

  Host& host_;
  WsConfig cfg_;
  lws_context* ctx_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);

  std::atomic<uint64_t> next_id_{1};
  std::unordered_map<uint64_t, ConnPtr> lws_conns_;   // lws thread
  ConnectionLimits conn_limits_;                      // lws thread: open WebSockets
  std::unordered_map<uint64_t, ConnPtr> loop_conns_;  // loop thread: authenticated sockets

  std::mutex dirty_mu_;
  std::vector<ConnPtr> dirty_;
  std::atomic<bool> wake_pending_{false};

  AuthLimiter limiter_;  // loop thread
  uint64_t metrics_client_ = 0;
  uint64_t metrics_next_request_ = 1;
  std::unordered_map<uint64_t, ConnPtr> metrics_waiting_;  // loop thread: request id -> HTTP request

  std::atomic<uint64_t> connections_{0}, authenticated_{0}, auth_failures_{0}, slow_disconnects_{0}, sent_{0},
      refused_{0};
};

}  // namespace ccmux::ws
