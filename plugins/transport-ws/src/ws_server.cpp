#include "ws_server.h"

#include "rx_budget.h"
#include "static_confine.h"

#include <ccmux/json_bounds.hpp>
#include <libwebsockets.h>
#include <nlohmann/json.hpp>
#include <strings.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace ccmux::ws {

using nlohmann::json;

namespace {

// Close codes a client sees (4000–4999 are ours; docs in the plugin README).
constexpr int kCloseAuthRequired = 4001;
constexpr int kCloseAuthFailed = 4003;
constexpr int kCloseSlowClient = 4008;
constexpr int kCloseRateLimited = 4029;
constexpr int kCloseTooBig = 1009;
constexpr int kCloseBadFrame = 1003;

// Bytes of frames gathered into one write before yielding to other connections.
constexpr size_t kBatchBytes = 256 * 1024;

// Sockets lws may hold beyond max_connections WebSockets, for plain HTTP (the page,
// /healthz, /metrics). Past both, lws stops accepting until one closes: the daemon's own
// file descriptors (claude pipes, the store) can never be used up from the network.
constexpr unsigned kHttpSockets = 64;
// HTTP requests (lws): at most 4 KiB of headers, all of them within 10 s of the connection
// (a slow trickle, or silence, gets no more time); an idle keep-alive connection: 5 s.
constexpr unsigned short kHeaderBytes = 4096;
constexpr unsigned kHeaderSeconds = 10;
constexpr unsigned kHttpIdleSeconds = 5;

// A server-to-client text frame: FIN + opcode 1, no mask, 7/16/64-bit payload length.
void append_text_frame(std::string& out, std::string_view payload) {
  unsigned char h[10];
  size_t n = payload.size(), hl;
  h[0] = 0x81;
  if (n < 126) {
    h[1] = static_cast<unsigned char>(n);
    hl = 2;
  } else if (n <= 0xffff) {
    h[1] = 126;
    h[2] = static_cast<unsigned char>(n >> 8);
    h[3] = static_cast<unsigned char>(n);
    hl = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<unsigned char>(static_cast<uint64_t>(n) >> (56 - 8 * i));
    hl = 10;
  }
  out.append(reinterpret_cast<const char*>(h), hl);
  out.append(payload);
}

// Header + payload size of the frame append_text_frame wrote at `at`.
size_t frame_size_at(const std::string& buf, size_t at) {
  auto* p = reinterpret_cast<const unsigned char*>(buf.data() + at);
  uint64_t len = p[1] & 0x7f;
  if (len == 126) return 4 + ((size_t{p[2]} << 8) | p[3]);
  if (len < 126) return 2 + len;
  len = 0;
  for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
  return 10 + len;
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const Host* g_log_host = nullptr;  // lws logging is process-wide

void lws_log_to_host(int level, const char* line) {
  if (!g_log_host) return;
  std::string msg(line);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  g_log_host->log(level == LLL_ERR ? CCMUX_LOG_ERROR : CCMUX_LOG_WARN, "libwebsockets: " + msg);
}

std::string header(struct lws* wsi, enum lws_token_indexes token) {
  int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  if (lws_hdr_copy(wsi, out.data(), n + 1, token) < 0) return {};
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string peer_address(struct lws* wsi) {
  char buf[128] = {0};
  const char* s = lws_get_peer_simple(wsi, buf, sizeof buf);
  return s ? s : "?";
}

// Extra content types on top of libwebsockets' built-in list.
const lws_protocol_vhost_options kMimeWebmanifest = {nullptr, nullptr, ".webmanifest", "application/manifest+json"};
const lws_protocol_vhost_options kMimeJson = {&kMimeWebmanifest, nullptr, ".json", "application/json"};
const lws_protocol_vhost_options kMimeMap = {&kMimeJson, nullptr, ".map", "application/json"};
const lws_protocol_vhost_options kMimeTxt = {&kMimeMap, nullptr, ".md", "text/plain; charset=utf-8"};

lws_protocols g_protocols[] = {
    {"ccmux", reinterpret_cast<lws_callback_function*>(&WsServer::lws_callback), sizeof(uint64_t), 64 * 1024, 0,
     nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

// Pings idle sockets so a phone that vanished (no FIN) is noticed and its client closed.
const lws_retry_bo_t kRetryPolicy = {nullptr, 0, 0, 30, 75, 0};

}  // namespace

WsServer::WsServer(Host& host, WsConfig config)
    : host_(host),
      cfg_(std::move(config)),
      conn_limits_(cfg_.max_connections, cfg_.max_connections_per_address),
      limiter_(cfg_.auth_max_failures, std::chrono::seconds(cfg_.auth_window_s)) {
  g_log_host = &host_;
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_host);

  static lws_http_mount files{}, healthz{}, metrics{};
  files = {};
  files.mountpoint = "/";
  files.mountpoint_len = 1;
  files.origin = cfg_.static_root.c_str();
  files.def = "index.html";
  files.origin_protocol = LWSMPRO_FILE;
  files.extra_mimetypes = &kMimeTxt;
  // The page changes only with the plugin: cache a little, always revalidate.
  files.cache_max_age = 60;
  files.cache_reusable = 1;
  files.cache_revalidate = 1;
  healthz = {};
  healthz.mountpoint = "/healthz";
  healthz.mountpoint_len = 8;
  healthz.origin = "ccmux";
  healthz.origin_protocol = LWSMPRO_CALLBACK;
  healthz.mount_next = &files;
  metrics = healthz;
  metrics.mountpoint = "/metrics";
  metrics.mountpoint_len = 8;
  metrics.mount_next = &healthz;

  lws_context_creation_info info{};
  info.port = cfg_.port;
  bool any = cfg_.listen.empty() || cfg_.listen == "0.0.0.0" || cfg_.listen == "*";
  info.iface = any ? nullptr : cfg_.listen.c_str();
  info.protocols = g_protocols;
  info.mounts = &metrics;
  info.user = this;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.retry_and_idle_policy = &kRetryPolicy;
  info.vhost_name = "ccmux";
  info.fd_limit_per_thread = static_cast<unsigned>(cfg_.max_connections) + kHttpSockets;
  info.max_http_header_data = kHeaderBytes;
  info.timeout_secs_ah_idle = kHeaderSeconds;
  info.timeout_secs = kHttpIdleSeconds;
  info.keepalive_timeout = static_cast<int>(kHttpIdleSeconds);
  if (!cfg_.tls_cert.empty()) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = cfg_.tls_cert.c_str();
    info.ssl_private_key_filepath = cfg_.tls_key.c_str();
    info.alpn = "http/1.1";  // WebSockets over HTTP/1.1 on every browser
  }
  ctx_ = lws_create_context(&info);
  if (!ctx_)
    throw std::runtime_error("transport-ws: cannot serve on " + cfg_.listen + ":" + std::to_string(cfg_.port) +
                             " (port in use, or bad TLS files; see the libwebsockets lines above)");
  confine_files(ctx_, cfg_.static_root, [this](const std::string& path) {
    host_.warn("static file " + path + " refused: it resolves outside static_root");
  });

  // One in-daemon client answers /metrics from the daemon's `status`.
  metrics_client_ = host_.open_client("metrics", [this](std::string_view msg) { on_metrics_message(msg); });
  host_.client_send(metrics_client_, R"({"type":"hello","protocol":1,"client":"transport-ws/metrics"})");
  host_.on_token_revoked([this](const std::string& name) { on_revoked(name); });
  host_.info("listening on " + std::string(cfg_.tls_cert.empty() ? "http://" : "https://") +
             (any ? "0.0.0.0" : cfg_.listen) + ":" + std::to_string(cfg_.port) + " (page from " + cfg_.static_root + ")");
}

WsServer::~WsServer() { stop(); }

void WsServer::run() {
  thread_ = std::thread([this] {
    while (!stopping_.load()) lws_service(ctx_, 0);
  });
}

void WsServer::stop() {
  if (!ctx_) return;
  alive_->store(false);  // tasks already posted become no-ops
  stopping_.store(true);
  lws_cancel_service(ctx_);
  if (thread_.joinable()) thread_.join();
  unconfine_files(ctx_);
  lws_context_destroy(ctx_);  // closes every socket; CLOSED callbacks post nothing now
  ctx_ = nullptr;
  for (auto& [id, c] : loop_conns_)
    if (uint64_t id = c->client.exchange(0)) host_.close_client(id);
  loop_conns_.clear();
  if (metrics_client_) host_.close_client(metrics_client_);
  metrics_client_ = 0;
  g_log_host = nullptr;
}

int WsServer::lws_callback(struct lws* wsi, int reason, void* user, void* in, size_t len) {
  auto* self = static_cast<WsServer*>(lws_context_user(lws_get_context(wsi)));
  if (!self) return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
  try {
    return self->on_lws(wsi, reason, user, in, len);
  } catch (const std::exception& e) {
    self->host_.warn(std::string("transport-ws: ") + e.what());
    return -1;  // closes this connection only
  }
}

WsServer::ConnPtr WsServer::find(uint64_t id) {
  auto it = lws_conns_.find(id);
  return it == lws_conns_.end() ? nullptr : it->second;
}

int WsServer::on_lws(struct lws* wsi, int reason, void* user, void* in, size_t len) {
  auto* slot = static_cast<uint64_t*>(user);  // per-connection storage: our connection id
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      wake_dirty();
      return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      return in && !strcasecmp(static_cast<const char*>(in), "websocket") ? confirm_upgrade(wsi) : 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
      return origin_allowed(wsi) ? 0 : -1;

    case LWS_CALLBACK_ESTABLISHED: {
      auto c = std::make_shared<Connection>(next_id_++, Connection::Kind::websocket, peer_address(wsi));
      c->wsi = wsi;
      *slot = c->id;
      lws_conns_[c->id] = c;
      conn_limits_.opened(c->address);
      c->counted = true;
      ++connections_;
      lws_set_timer_usecs(wsi, static_cast<lws_usec_t>(cfg_.auth_timeout_s) * LWS_US_PER_SEC);
      return 0;
    }
    case LWS_CALLBACK_TIMER: {
      auto c = slot ? find(*slot) : nullptr;
      if (!c) return 0;
      if (!c->authenticated.load()) {
        if (!c->close_code)
          send_error_and_close(c, "auth_required", "authenticate within " + std::to_string(cfg_.auth_timeout_s) + " s",
                               kCloseAuthRequired);
        return 0;
      }
      check_stalled(c);
      return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
      auto c = slot ? find(*slot) : nullptr;
      if (c) on_receive(c, in, len);
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      auto c = slot ? find(*slot) : nullptr;
      return c ? on_ws_writeable(c) : 0;
    }
    case LWS_CALLBACK_CLOSED: {
      auto c = slot ? find(*slot) : nullptr;
      if (!c) return 0;
      c->gone = true;
      c->wsi = nullptr;
      lws_conns_.erase(c->id);
      if (c->counted) conn_limits_.closed(c->address);
      --connections_;
      if (c->authenticated.load()) --authenticated_;
      if (!stopping_.load()) host_.post([this, c, alive = alive_] {
          if (alive->load()) on_closed(c);
        });
      return 0;
    }

    case LWS_CALLBACK_HTTP:
      return on_http(wsi, slot);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
      auto c = slot ? find(*slot) : nullptr;
      if (!c) return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
      return on_http_writeable(c);
    }
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL: {
      auto c = slot && *slot ? find(*slot) : nullptr;
      if (c && c->kind == Connection::Kind::http) {
        c->gone = true;
        c->wsi = nullptr;
        lws_conns_.erase(c->id);
        *slot = 0;
      }
      break;
    }
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
}

// Browsers send Origin; other clients (the CLI, scripts, benches) usually do not. A page
// served from elsewhere must not ride the user's network position into the API.
bool WsServer::origin_allowed(struct lws* wsi) {
  std::string origin = header(wsi, WSI_TOKEN_ORIGIN);
  if (origin.empty()) return true;
  for (auto& o : cfg_.allowed_origins)
    if (o == "*" || o == origin) return true;
  std::string host = header(wsi, WSI_TOKEN_HOST);
  bool same = !host.empty() && (origin == "http://" + host || origin == "https://" + host);
  if (cfg_.allowed_origins.empty() && same) return true;
  host_.warn("WebSocket from " + peer_address(wsi) + " refused: origin '" + origin + "' not allowed");
  return false;
}

// Before the upgrade: too many WebSockets (from this address, or in all) get 503 and
// Retry-After, so the client knows to come back rather than that the server is broken.
int WsServer::confirm_upgrade(struct lws* wsi) {
  std::string address = peer_address(wsi);
  auto why = conn_limits_.refusal(address);
  if (!why) return 0;
  ++refused_;
  host_.warn("WebSocket from " + address + " refused: " + *why);
  std::string body = "too many connections: " + *why + "\n";
  unsigned char buf[LWS_PRE + 1024];
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - body.size();
  if (lws_add_http_common_headers(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body.size(), &p,
                                  end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_RETRY_AFTER, reinterpret_cast<const unsigned char*>("10"), 2, &p,
                                   end) ||
      lws_finalize_http_header(wsi, &p, end))
    return -1;  // cannot happen with this buffer; hang up then
  std::memcpy(p, body.data(), body.size());
  int n = static_cast<int>(p - start) + static_cast<int>(body.size());
  return lws_write(wsi, start, static_cast<size_t>(n), LWS_WRITE_HTTP) == n ? 1 : -1;
}

void WsServer::on_receive(const ConnPtr& c, const void* in, size_t len) {
  {
    std::lock_guard lock(c->mu);
    if (c->close_code) return;  // closing: ignore the rest
  }
  if (lws_frame_is_binary(c->wsi)) {
    send_error_and_close(c, "bad_message", "text frames only: one JSON message per frame", kCloseBadFrame);
    return;
  }
  const bool authenticated = c->authenticated.load();
  const size_t limit = message_limit(authenticated, cfg_.max_message_bytes);
  if (!c->rx_discard) {
    if (c->rx.size() + len > limit) {
      c->rx.clear();
      c->rx.shrink_to_fit();
      if (!authenticated) {  // nothing that big is expected before login: close now, read no more
        send_error_and_close(c, "message_too_large",
                             "message over " + std::to_string(limit) + " bytes before login", kCloseTooBig);
        return;
      }
      c->rx_discard = true;
    } else {
      c->rx.append(static_cast<const char*>(in), len);
    }
  }
  if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi) > 0) return pause_rx_if_over_budget(c);
  if (c->rx_discard) {
    c->rx_discard = false;
    send_error_and_close(c, "message_too_large",
                         "message over " + std::to_string(cfg_.max_message_bytes) + " bytes (max_message_bytes)",
                         kCloseTooBig);
    return;
  }
  c->rx_waiting += c->rx.size();
  if (!authenticated) c->posted_before_auth = true;
  host_.post([this, c, text = std::move(c->rx), alive = alive_] {
    if (!alive->load()) return;
    c->rx_waiting -= text.size();
    // Handled: if the lws thread stopped reading this socket, it looks again.
    auto wake = [&] {
      if (c->rx_paused.load()) mark_dirty(c);
    };
    try {
      handle_message(c, text);
    } catch (...) {
      wake();
      throw;
    }
    wake();
  });
  c->rx.clear();
  pause_rx_if_over_budget(c);
}

bool WsServer::rx_over_budget(const Connection& c) const {
  return rx_should_pause(c.authenticated.load(), c.posted_before_auth, c.rx.size(), c.rx_waiting.load(),
                         cfg_.max_message_bytes);
}

// lws keeps what it already read in its rx cache and leaves the rest in the kernel.
void WsServer::pause_rx_if_over_budget(const ConnPtr& c) {
  if (c->rx_paused.load() || !rx_over_budget(*c)) return;
  c->rx_paused = true;
  lws_rx_flow_control(c->wsi, 0);
  // The loop may have handled everything between the check and the flag: it saw no flag and
  // will not wake this thread, so look once more.
  if (!rx_over_budget(*c)) resume_rx(c);
}

void WsServer::resume_rx(const ConnPtr& c) {
  if (!c->rx_paused.exchange(false) || !c->wsi) return;
  lws_rx_flow_control(c->wsi, 1);
}

// A paused client that did not drain within slow_client_timeout_s: drop its queue and close
// it with 4008 (it reconnects and replays from its last seq); lws gives up on the socket
// after 10 s more if even the close frame cannot be written.
void WsServer::check_stalled(const ConnPtr& c) {
  c->stall_timer = false;
  int64_t waited;
  {
    std::lock_guard lock(c->mu);
    if (!c->paused || c->close_code) return;
    waited = steady_ms() - c->paused_since_ms;
    if (waited >= int64_t{cfg_.slow_client_timeout_s} * 1000) {
      c->out.clear();
      c->out_messages = 0;
      c->out_bytes = 0;
      c->close_code = kCloseSlowClient;
      c->close_now = true;
      c->close_reason = "too slow: reconnect and subscribe from your last seq + 1";
    }
  }
  if (c->close_code) {
    ++slow_disconnects_;
    host_.warn("client " + c->address + " too slow: its queue did not drain in " +
               std::to_string(cfg_.slow_client_timeout_s) + " s, closed with 4008");
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 10);
    lws_callback_on_writable(c->wsi);
    return;
  }
  lws_set_timer_usecs(c->wsi, (int64_t{cfg_.slow_client_timeout_s} * 1000 - waited) * 1000 + 1000);
  c->stall_timer = true;
}

int WsServer::on_ws_writeable(const ConnPtr& c) {
  {
    std::lock_guard lock(c->mu);
    if (c->close_code && c->close_now) {
      resume_rx(c);  // lws reads the client's answer to the close (what else comes is dropped)
      lws_close_reason(c->wsi, static_cast<lws_close_status>(c->close_code),
                       reinterpret_cast<unsigned char*>(c->close_reason.data()), c->close_reason.size());
      return -1;
    }
  }
  // Queued messages are already framed in one buffer: it goes to lws as raw bytes in
  // slices of kBatchBytes, one lws_write per callback. One send() per slice instead of one
  // per message is what lets a fan-out of small events to many clients run at socket speed;
  // lws still owns the socket, partial sends and TLS.
  if (c->sending_off >= c->sending.size()) {
    std::lock_guard lock(c->mu);
    if (c->out.size() > LWS_PRE) {
      c->sending.clear();
      c->sending.swap(c->out);  // the emptied buffer goes back to the producer, capacity kept
      c->sending_off = LWS_PRE;
      sent_ += c->out_messages;
      c->out_messages = 0;
    }
  }
  if (c->sending_off < c->sending.size()) {
    // Slices end on frame boundaries, so a close frame can always follow the last one.
    size_t end = c->sending_off;
    while (end < c->sending.size() && end - c->sending_off < kBatchBytes) end += frame_size_at(c->sending, end);
    size_t len = end - c->sending_off;
    // lws may use the LWS_PRE bytes before the slice: the headroom, or bytes already sent.
    if (lws_write(c->wsi, reinterpret_cast<unsigned char*>(c->sending.data()) + c->sending_off, len, LWS_WRITE_RAW) <
        static_cast<int>(len))
      return -1;
    c->sending_off += len;
    c->out_bytes -= len;
    if (c->sending_off >= c->sending.size() && c->sending.capacity() > kBatchBytes)
      c->sending = std::string();  // a burst is over: an idle client keeps no big buffer
  }
  std::unique_lock lock(c->mu);
  if (c->paused && c->out_bytes.load() <= cfg_.send_queue_bytes / 8) {
    // Drained: the daemon resumes its events, replaying from the store what it held back.
    c->paused = false;
    host_.client_set_ready(c->client.load(), true);
  }
  if (c->sending_off < c->sending.size() || c->out.size() > LWS_PRE) {
    lws_callback_on_writable(c->wsi);
    return 0;
  }
  if (c->close_code) {  // everything before the close went out
    resume_rx(c);
    lws_close_reason(c->wsi, static_cast<lws_close_status>(c->close_code),
                     reinterpret_cast<unsigned char*>(c->close_reason.data()), c->close_reason.size());
    return -1;
  }
  return 0;
}

int WsServer::on_http(struct lws* wsi, uint64_t* slot) {
  std::string uri = header(wsi, WSI_TOKEN_GET_URI);
  auto c = std::make_shared<Connection>(next_id_++, Connection::Kind::http, peer_address(wsi));
  c->wsi = wsi;
  if (*slot) lws_conns_.erase(*slot);  // keep-alive: the previous request on this socket is done
  *slot = c->id;
  lws_conns_[c->id] = c;
  if (uri == "/healthz") {
    std::lock_guard lock(c->mu);
    c->http_status = 200;
    c->http_type = "text/plain";
    c->http_body = "ok\n";
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (uri == "/metrics") {
    std::string auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
    host_.post([this, c, token, alive = alive_] {
      if (alive->load()) serve_metrics(c, token);
    });
    return 0;
  }
  lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, nullptr);
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int WsServer::on_http_writeable(const ConnPtr& c) {
  int status;
  std::string type, body;
  {
    std::lock_guard lock(c->mu);
    if (!c->http_status) return 0;  // answer not ready yet
    status = c->http_status;
    type = c->http_type;
    body = c->http_body;
  }
  if (!c->headers_sent) {
    unsigned char buf[LWS_PRE + 1024];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    if (lws_add_http_common_headers(c->wsi, static_cast<unsigned int>(status), type.c_str(), body.size(), &p, end) ||
        lws_add_http_header_by_token(c->wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     reinterpret_cast<const unsigned char*>("no-store"), 8, &p, end) ||
        (status == 401 && lws_add_http_header_by_token(c->wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                                       reinterpret_cast<const unsigned char*>("Bearer"), 6, &p, end)) ||
        lws_finalize_write_http_header(c->wsi, start, &p, end))
      return 1;
    c->headers_sent = true;
    lws_callback_on_writable(c->wsi);
    return 0;
  }
  std::string frame(LWS_PRE, '\0');
  frame += body;
  if (lws_write(c->wsi, reinterpret_cast<unsigned char*>(frame.data()) + LWS_PRE, body.size(), LWS_WRITE_HTTP_FINAL) !=
      static_cast<int>(body.size()))
    return 1;
  return lws_http_transaction_completed(c->wsi) ? -1 : 0;
}

void WsServer::wake_dirty() {
  wake_pending_.store(false);
  std::vector<ConnPtr> batch;
  {
    std::lock_guard lock(dirty_mu_);
    batch.swap(dirty_);
  }
  // Cleared before the writable request: a message queued after this re-adds its connection.
  for (auto& c : batch) c->dirty.store(false);
  for (auto& c : batch) {
    if (c->gone.load() || !c->wsi) continue;
    lws_callback_on_writable(c->wsi);
    if (c->kind == Connection::Kind::websocket && c->rx_paused.load() && !rx_over_budget(*c)) resume_rx(c);
    bool paused;
    {
      std::lock_guard lock(c->mu);
      paused = c->paused;
    }
    if (paused && !c->stall_timer && c->authenticated.load()) {
      lws_set_timer_usecs(c->wsi, static_cast<lws_usec_t>(cfg_.slow_client_timeout_s) * LWS_US_PER_SEC);
      c->stall_timer = true;
    }
  }
}

void WsServer::mark_dirty(const ConnPtr& c) {
  if (!c->dirty.exchange(true)) {
    std::lock_guard lock(dirty_mu_);
    dirty_.push_back(c);
  }
  // One wake-up per batch, however many messages were queued meanwhile.
  if (!wake_pending_.exchange(true) && ctx_) lws_cancel_service(ctx_);
}

void WsServer::enqueue(const ConnPtr& c, std::string_view message) {
  if (c->gone.load()) return;
  bool pause = false;
  {
    std::lock_guard lock(c->mu);
    if (c->close_code) return;
    size_t queued = c->out_bytes.load();
    // Slow is a queue already half full (its events paused) that would overflow. A message
    // bigger than the room left while under half is taken (events then pause): a stored
    // event can be up to claude.max_event_bytes, and refusing it would close the client at
    // every replay. Memory stays bounded by the queue plus one message.
    if (queued >= cfg_.send_queue_bytes / 2 && queued + message.size() > cfg_.send_queue_bytes) {
      // Bounded memory per client: it reconnects and replays from its last seq instead.
      c->out.clear();
      c->out_messages = 0;
      c->out_bytes = 0;
      c->close_code = kCloseSlowClient;
      c->close_now = true;
      c->close_reason = "send queue full: reconnect and subscribe from your last seq + 1";
      ++slow_disconnects_;
      host_.warn("client " + c->address + " (" + c->token_name + ") too slow: send queue over " +
                 std::to_string(cfg_.send_queue_bytes) + " bytes, closed with 4008");
    } else {
      size_t before = c->out.size();
      if (c->out.empty()) c->out.assign(LWS_PRE, '\0');
      append_text_frame(c->out, message);
      c->out_bytes += c->out.size() - std::max(before, size_t{LWS_PRE});
      ++c->out_messages;
      // Half full: the daemon holds this client's events back (flow control, SDK 1.2) and
      // replays them from the store once the queue drains. Nothing is lost.
      if (!c->paused && c->client.load() && c->out_bytes.load() >= cfg_.send_queue_bytes / 2) {
        c->paused = pause = true;
        c->paused_since_ms = steady_ms();
      }
    }
  }
  if (pause) host_.client_set_ready(c->client.load(), false);
  mark_dirty(c);
}

void WsServer::request_close(const ConnPtr& c, int code, const std::string& reason, bool now) {
  {
    std::lock_guard lock(c->mu);
    if (c->close_code) return;
    c->close_code = code;
    c->close_now = now;
    c->close_reason = reason.substr(0, 120);  // a close frame holds 123 bytes of reason
  }
  mark_dirty(c);
}

void WsServer::send_error_and_close(const ConnPtr& c, const char* code, const std::string& message, int close_code,
                                    const std::string& extra_json) {
  json err = {{"type", "error"}, {"code", code}, {"message", message}};
  if (!extra_json.empty()) err.update(json::parse(extra_json));
  enqueue(c, err.dump());
  request_close(c, close_code, message, false);
}

// ---- loop thread ----

void WsServer::handle_message(const ConnPtr& c, const std::string& text) {
  if (c->gone.load()) return;
  if (!c->authenticated.load()) return authenticate(c, text);
  host_.client_send(c->client, text);
}

void WsServer::authenticate(const ConnPtr& c, const std::string& text) {
  if (c->auth_tried) return;  // one attempt per socket; the close is on its way
  c->auth_tried = true;
  if (int wait = limiter_.retry_after_s(c->address); wait > 0) {
    host_.warn("login from " + c->address + " refused: too many failures, retry in " + std::to_string(wait) + " s");
    send_error_and_close(c, "rate_limited", "too many failed logins from this address; retry in " +
                                                std::to_string(wait) + " s",
                         kCloseRateLimited, json{{"retry_after_s", wait}}.dump());
    return;
  }
  auto msg = ccmux::sdk::parse_json_bounded(text);
  bool is_auth = msg.is_object() && msg.contains("type") && msg["type"] == "auth" && msg.contains("token") &&
                 msg["token"].is_string();
  std::optional<std::string> who;
  if (is_auth) who = host_.authenticate(msg["token"].get<std::string>());
  if (!who) {
    int n = limiter_.record_failure(c->address);
    ++auth_failures_;
    // Never the token itself: only where the attempt came from.
    host_.warn("failed login from " + c->address + (is_auth ? " (unknown or revoked token)" : " (no auth message)") +
               ", " + std::to_string(n) + " of " + std::to_string(cfg_.auth_max_failures) + " in " +
               std::to_string(cfg_.auth_window_s) + " s");
    if (is_auth)
      send_error_and_close(c, "auth_failed", "unknown or revoked token", kCloseAuthFailed);
    else
      send_error_and_close(c, "auth_required", R"(the first message must be {"type":"auth","token":"…"})",
                           kCloseAuthRequired);
    return;
  }
  limiter_.record_success(c->address);
  c->token_name = *who;
  std::weak_ptr<Connection> weak = c;
  c->client = host_.open_client("ws:" + *who + "@" + c->address, [this, weak](std::string_view m) {
    if (auto conn = weak.lock()) enqueue(conn, m);
  });
  c->authenticated = true;
  ++authenticated_;
  loop_conns_[c->id] = c;
  host_.info("client " + c->address + " logged in with token '" + *who + "'");
  enqueue(c, json{{"type", "auth"}, {"ok", true}, {"name", *who}}.dump());
}

void WsServer::serve_metrics(const ConnPtr& c, const std::string& token) {
  auto answer = [&](int status, const std::string& body) {
    {
      std::lock_guard lock(c->mu);
      c->http_status = status;
      c->http_type = "text/plain; charset=utf-8";
      c->http_body = body;
    }
    mark_dirty(c);
  };
  if (!cfg_.metrics_public) {
    if (int wait = limiter_.retry_after_s(c->address); wait > 0)
      return answer(429, "too many failed logins; retry in " + std::to_string(wait) + " s\n");
    if (token.empty()) return answer(401, "a bearer token is required (Authorization: Bearer <token>)\n");
    if (!host_.authenticate(token)) {
      limiter_.record_failure(c->address);
      ++auth_failures_;
      host_.warn("failed /metrics login from " + c->address);
      return answer(401, "unknown or revoked token\n");
    }
  }
  uint64_t id = metrics_next_request_++;
  metrics_waiting_[id] = c;
  host_.client_send(metrics_client_, json{{"type", "request"}, {"id", id}, {"method", "status"}}.dump());
}

void WsServer::on_metrics_message(std::string_view msg) {
  auto m = json::parse(msg, nullptr, false);
  if (!m.is_object() || !m.contains("type") || m["type"] != "response" || !m.contains("id") ||
      !m["id"].is_number_unsigned())
    return;
  auto it = metrics_waiting_.find(m["id"].get<uint64_t>());
  if (it == metrics_waiting_.end()) return;
  ConnPtr c = it->second;
  metrics_waiting_.erase(it);
  {
    std::lock_guard lock(c->mu);
    c->http_status = m.contains("result") ? 200 : 500;
    c->http_type = "text/plain; version=0.0.4; charset=utf-8";
    c->http_body = m.contains("result") ? prometheus_text(m["result"], snapshot()) : m.dump() + "\n";
  }
  mark_dirty(c);
}

void WsServer::on_closed(const ConnPtr& c) {
  if (uint64_t id = c->client.exchange(0)) host_.close_client(id);
  loop_conns_.erase(c->id);
}

void WsServer::on_revoked(const std::string& token_name) {
  for (auto& [id, c] : loop_conns_)
    if (c->token_name == token_name) {
      host_.info("closing " + c->address + ": token '" + token_name + "' revoked");
      send_error_and_close(c, "token_revoked", "token revoked", kCloseAuthFailed);
    }
}

TransportCounters WsServer::snapshot() const {
  TransportCounters t;
  t.connections = connections_.load();
  t.authenticated = authenticated_.load();
  t.auth_failures = auth_failures_.load();
  t.slow_disconnects = slow_disconnects_.load();
  t.refused = refused_.load();
  t.messages_sent = sent_.load();
  return t;
}

}  // namespace ccmux::ws
