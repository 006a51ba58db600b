// The GitLab webhook listener: a small HTTP server (libwebsockets, its own context and
// service thread) that takes POSTs on one path, checks X-Gitlab-Token against the secret
// (constant time), answers at once (202) and hands each accepted delivery to a handler that
// runs on a dispatch thread of its own — one delivery at a time, in arrival order — so the
// handler may block (GitLab API calls) without holding up HTTP.
//
// Answers: 202 accepted; 200 for an event kind not in `events` (accepted, ignored, logged);
// 400 body not a JSON object / no X-Gitlab-Event header; 401 missing or wrong token; 404
// another path; 405 another method; 411 no Content-Length on a body; 413 body over
// max_body_bytes; 503 (Retry-After: 5) the dispatch queue is full: max_queue deliveries, or
// max_queue_bytes of bodies. Every refusal is logged (peer, path,
// reason), never with the secret or the token received.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

struct lws;
struct lws_context;

namespace ccmux::gitlab {

struct WebhookConfig {
  std::string listen_address = "127.0.0.1";  // an IP address ("0.0.0.0" for all)
  int port = 8091;                           // 0: an ephemeral port (see WebhookServer::port())
  std::string path = "/gitlab/webhook";
  std::string secret;                        // X-Gitlab-Token must equal it; required (non-empty)
  std::string tls_cert, tls_key;             // PEM files: HTTPS (the secret is not sent in clear); both or none
  size_t max_body_bytes = 1u << 20;          // 1 MiB
  size_t max_queue = 256;                    // deliveries waiting for the handler
  size_t max_queue_bytes = 16u << 20;        // their bodies together (256 x 1 MiB would be 256 MiB)
  std::set<std::string> events = {"Note Hook", "Pipeline Hook"};  // X-Gitlab-Event values handed on
};

// Queued as the raw body only (checked when it came in); parsed again on the dispatch thread
// just before the handler runs, so a waiting delivery costs its body's bytes and no more.
struct WebhookDelivery {
  std::string event;       // X-Gitlab-Event, e.g. "Note Hook"
  std::string event_uuid;  // X-Gitlab-Event-UUID (empty when absent)
  std::string body;        // the raw JSON text
  nlohmann::json payload;  // the body, parsed (bounded depth); always an object when handed on
};

struct WebhookStats {
  uint64_t accepted = 0, ignored = 0, refused = 0, dropped = 0;  // dropped: queue full / stopped
};

class WebhookServer {
 public:
  using Handler = std::function<void(WebhookDelivery&&)>;  // dispatch thread; exceptions are logged
  using LogFn = std::function<void(int level, const std::string& line)>;  // CCMUX_LOG_* levels; any thread

  // Binds at once (throws std::runtime_error with the reason: bad address, port taken, empty
  // secret) and starts the service and dispatch threads.
  WebhookServer(WebhookConfig config, Handler handler, LogFn log_fn);
  ~WebhookServer();  // stop()
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  int port() const { return port_; }  // the bound port (the real one when config.port was 0)
  // Any thread except the dispatch thread: stops listening, drops the connections and the
  // deliveries still queued, waits for the handler running now to return, joins both
  // threads. Idempotent.
  void stop();
  WebhookStats stats() const;

  static int lws_callback(struct lws* wsi, int reason, void* user, void* in, size_t len);
  // True when a and b are equal; time depends on the lengths only, never on the contents.
  static bool secret_equals(const std::string& a, const std::string& b);

  struct Request;  // one HTTP request (lws thread; defined in the .cpp)

 private:
  int on_lws(struct lws* wsi, int reason, void* user, void* in, size_t len);
  int respond(struct lws* wsi, Request& r, int status, const std::string& body);
  void refuse(struct lws* wsi, Request& r, int status, const std::string& why);
  void finish_body(struct lws* wsi, Request& r);
  int answer(struct lws* wsi, Request& r);
  void dispatch_loop();
  void log(int level, const std::string& line) const;

  WebhookConfig cfg_;
  Handler handler_;
  LogFn log_;
  lws_context* ctx_ = nullptr;
  int port_ = 0;
  std::thread service_, dispatcher_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  bool stopped_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WebhookDelivery> queue_;  // payload still empty: body only
  size_t queued_bytes_ = 0;             // the bodies in queue_
  WebhookStats stats_;
};

}  // namespace ccmux::gitlab
