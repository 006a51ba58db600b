#include "webhook_server.h"

#include <ccmux/json_bounds.hpp>
#include <libwebsockets.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace ccmux::gitlab {

using nlohmann::json;

// One HTTP request on a connection (lws thread only). The decision (answer and reason) may
// be taken at the headers; a request with a body is answered once the body is read (closing
// with unread bytes would make the kernel reset the connection, and the client might never
// see the answer), except 413/411/405-with-a-body, which are answered at once and closed.
struct WebhookServer::Request {
  std::string peer, method, path;
  std::string event, uuid, token;
  size_t content_length = 0;
  int refuse_status = 0;  // decided at the headers: answered when the body is in
  std::string refuse_why;
  std::string body;
};

namespace {

constexpr int kLevelDebug = 0, kLevelInfo = 1, kLevelWarn = 2;
constexpr int kMaxPayloadDepth = 64;  // GitLab's payloads are a few levels deep

lws_protocols g_protocols[] = {
    {"gitlab-webhook", reinterpret_cast<lws_callback_function*>(&WebhookServer::lws_callback), sizeof(void*),
     16 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

std::string header(struct lws* wsi, enum lws_token_indexes token) {
  int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  if (lws_hdr_copy(wsi, out.data(), n + 1, token) < 0) return {};
  out.resize(static_cast<size_t>(n));
  return out;
}

// A header lws does not know by name ("x-gitlab-token:"); nullopt when absent.
std::optional<std::string> custom_header(struct lws* wsi, const char* name) {
  int nlen = static_cast<int>(std::strlen(name));
  int n = lws_hdr_custom_length(wsi, name, nlen);
  if (n < 0) return std::nullopt;
  std::string out(static_cast<size_t>(n) + 1, '\0');
  if (lws_hdr_custom_copy(wsi, out.data(), n + 1, name, nlen) < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string peer_address(struct lws* wsi) {
  char buf[128] = {0};
  const char* s = lws_get_peer_simple(wsi, buf, sizeof buf);
  return s ? s : "?";
}

// The request's method, from which URI token lws filled.
std::string method_of(struct lws* wsi) {
  static const std::pair<lws_token_indexes, const char*> kMethods[] = {
      {WSI_TOKEN_POST_URI, "POST"},     {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_PUT_URI, "PUT"},
      {WSI_TOKEN_PATCH_URI, "PATCH"},   {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
      {WSI_TOKEN_HEAD_URI, "HEAD"},
  };
  for (auto& [token, name] : kMethods)
    if (lws_hdr_total_length(wsi, token) > 0) return name;
  return "?";
}

// Printable and short, for log lines (a header can be anything a client sends).
std::string printable(const std::string& s, size_t max = 120) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > max ? out + "…" : out;
}

// lws waits quietly for an interface that does not exist yet; an IP address that is not
// this machine's is a configuration error to report now. Empty: fine (or not an IP: lws decides).
std::string address_problem(const std::string& address) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof *v6;
  } else {
    return {};
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&ss), len);  // port 0: any free one, just to see the address
  int err = errno;
  close(fd);
  return rc == 0 ? std::string() : std::string(std::strerror(err));
}

WebhookServer::Request** slot_of(void* user) { return static_cast<WebhookServer::Request**>(user); }

}  // namespace

bool WebhookServer::secret_equals(const std::string& a, const std::string& b) {
  // Every byte of the longer one is looked at whatever the contents; only the lengths (which
  // a correct guess must match anyway) shape the time taken.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  // volatile: the compiler may not turn the loop into an early-exit compare.
  volatile unsigned char result = diff;
  return result == 0;
}

WebhookServer::WebhookServer(WebhookConfig config, Handler handler, LogFn log_fn)
    : cfg_(std::move(config)), handler_(std::move(handler)), log_(std::move(log_fn)) {
  if (cfg_.secret.empty())
    throw std::runtime_error("gitlab webhook: the webhook secret is empty (set it, and the same as the hook's "
                             "\"Secret token\" in GitLab)");
  if (cfg_.path.empty() || cfg_.path[0] != '/')
    throw std::runtime_error("gitlab webhook: path '" + cfg_.path + "' must start with /");
  if (cfg_.port < 0 || cfg_.port > 65535) throw std::runtime_error("gitlab webhook: port " + std::to_string(cfg_.port) + " out of range");

  bool any = cfg_.listen_address.empty() || cfg_.listen_address == "0.0.0.0" || cfg_.listen_address == "*";
  if (!any) {
    if (std::string why = address_problem(cfg_.listen_address); !why.empty())
      throw std::runtime_error("gitlab webhook: cannot listen on " + cfg_.listen_address + ": " + why);
  }
  const bool tls = !cfg_.tls_cert.empty();
  if (tls != !cfg_.tls_key.empty()) throw std::runtime_error("gitlab webhook: tls_cert and tls_key go together");
  lws_context_creation_info info{};
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.user = this;
  info.fd_limit_per_thread = 256;  // concurrent webhook connections (GitLab sends one at a time per hook)
  ctx_ = lws_create_context(&info);
  if (!ctx_) throw std::runtime_error("gitlab webhook: cannot create the libwebsockets context");

  lws_context_creation_info vh{};
  vh.port = cfg_.port;
  vh.iface = any ? nullptr : cfg_.listen_address.c_str();
  vh.protocols = g_protocols;
  vh.vhost_name = "gitlab-webhook";
  vh.options = cfg_.listen_address.find(':') == std::string::npos ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0;
  vh.max_http_header_data = 4096;
  vh.timeout_secs = 15;  // a client that stalls mid-request is dropped
  vh.keepalive_timeout = 15;
  if (tls) {
    vh.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;  // lws reads it per vhost too: without it, plain HTTP
    vh.ssl_cert_filepath = cfg_.tls_cert.c_str();
    vh.ssl_private_key_filepath = cfg_.tls_key.c_str();
    vh.alpn = "http/1.1";  // the request handling is HTTP/1.1's (GitLab posts with HTTP/1.1)
  }
  lws_vhost* vhost = lws_create_vhost(ctx_, &vh);
  if (!vhost) {
    lws_context_destroy(ctx_);
    ctx_ = nullptr;
    throw std::runtime_error("gitlab webhook: cannot listen on " + cfg_.listen_address + ":" + std::to_string(cfg_.port) +
                             " (address not on this machine, port in use, or unreadable TLS files)");
  }
  port_ = lws_get_vhost_listen_port(vhost);
  if (port_ <= 0) {
    lws_context_destroy(ctx_);
    ctx_ = nullptr;
    throw std::runtime_error("gitlab webhook: cannot listen on " + cfg_.listen_address + ":" + std::to_string(cfg_.port) +
                             " (no such interface)");
  }
  service_ = std::thread([this] {
    while (!stopping_.load()) lws_service(ctx_, 0);
  });
  dispatcher_ = std::thread([this] { dispatch_loop(); });
  log(kLevelInfo, std::string("gitlab webhook: listening on ") + (tls ? "https://" : "http://") +
                      (any ? std::string("0.0.0.0") : cfg_.listen_address) + ":" + std::to_string(port_) + cfg_.path);
  bool loopback = !any && (cfg_.listen_address.rfind("127.", 0) == 0 || cfg_.listen_address == "::1");
  if (!tls && !loopback)
    log(kLevelWarn, "gitlab webhook: plain HTTP on " + (any ? std::string("every interface") : cfg_.listen_address) +
                        ": the secret token travels in clear; set tls_cert and tls_key, or serve it behind a TLS proxy");
}

WebhookServer::~WebhookServer() { stop(); }

void WebhookServer::stop() {
  std::lock_guard guard(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  if (ctx_) {
    lws_cancel_service(ctx_);
    if (service_.joinable()) service_.join();
    lws_context_destroy(ctx_);  // closes every connection; their Requests are freed in the close callbacks
    ctx_ = nullptr;
  }
  size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    dropped = queue_.size();
    stats_.dropped += dropped;
    queue_.clear();
    queued_bytes_ = 0;
  }
  cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (dropped) log(kLevelWarn, "gitlab webhook: stopped with " + std::to_string(dropped) + " deliveries not handled");
}

WebhookStats WebhookServer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void WebhookServer::log(int level, const std::string& line) const {
  if (log_) log_(level, line);
}

void WebhookServer::dispatch_loop() {
  for (;;) {
    WebhookDelivery d;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_.load() || !queue_.empty(); });
      if (stopping_.load()) return;
      d = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= d.body.size();
    }
    try {
      // Checked as an object when it came in; the parse is done again here so the queue holds one copy.
      d.payload = ccmux::sdk::parse_json_bounded(d.body, nullptr, kMaxPayloadDepth);
      if (!d.payload.is_object()) throw std::runtime_error("payload no longer parses as an object");
      handler_(std::move(d));
    } catch (const std::exception& e) {
      log(kLevelWarn, std::string("gitlab webhook: the delivery handler failed: ") + e.what());
    } catch (...) {
      log(kLevelWarn, "gitlab webhook: the delivery handler failed (not a std::exception)");
    }
  }
}

int WebhookServer::lws_callback(struct lws* wsi, int reason, void* user, void* in, size_t len) {
  auto* self = static_cast<WebhookServer*>(lws_context_user(lws_get_context(wsi)));
  if (!self) return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
  return self->on_lws(wsi, reason, user, in, len);
}

// Writes the whole answer (headers and a short JSON body) in one go. 1: close afterwards.
int WebhookServer::respond(struct lws* wsi, Request& r, int status, const std::string& text) {
  (void)r;
  json body_json = {{"status", status < 300 ? "ok" : "refused"}, {"message", text}};
  std::string body = body_json.dump() + "\n";
  unsigned char buf[LWS_PRE + 2048];
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
  if (body.size() > 1024) body = R"({"status":"refused"})" "\n";
  end -= body.size();
  auto add = [&](const char* name, const std::string& v) {
    return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name),
                                       reinterpret_cast<const unsigned char*>(v.data()), static_cast<int>(v.size()), &p, end);
  };
  if (lws_add_http_common_headers(wsi, static_cast<unsigned int>(status), "application/json", body.size(), &p, end) ||
      add("cache-control:", "no-store") || (status == 405 && add("allow:", "POST")) ||
      (status == 503 && add("retry-after:", "5")) || lws_finalize_http_header(wsi, &p, end))
    return -1;
  std::memcpy(p, body.data(), body.size());
  int n = static_cast<int>(p - start) + static_cast<int>(body.size());
  if (lws_write(wsi, start, static_cast<size_t>(n), LWS_WRITE_HTTP_FINAL) != n) return -1;
  return 0;
}

void WebhookServer::refuse(struct lws* wsi, Request& r, int status, const std::string& why) {
  (void)wsi;
  {
    std::lock_guard lock(mu_);
    ++stats_.refused;
  }
  log(kLevelWarn, "gitlab webhook: refused " + r.method + " " + printable(r.path) + " from " + r.peer + ": " +
                      std::to_string(status) + " " + why);
}

// The body is in: check it and queue the delivery, or set the refusal to answer.
void WebhookServer::finish_body(struct lws* wsi, Request& r) {
  (void)wsi;
  if (r.refuse_status) return;
  std::string why;
  {
    // Parsed to check only; the queue keeps the text (see WebhookDelivery).
    json payload = r.body.empty() ? json(json::value_t::discarded)
                                  : ccmux::sdk::parse_json_bounded(r.body, &why, kMaxPayloadDepth);
    if (r.body.empty()) why = "empty body";
    if (!payload.is_discarded() && !payload.is_object()) why = std::string("body is a JSON ") + payload.type_name() + ", not an object";
  }
  if (!why.empty()) {
    r.refuse_status = 400;
    r.refuse_why = "malformed payload: " + printable(why, 200);
    return;
  }
  if (r.event.empty()) {
    r.refuse_status = 400;
    r.refuse_why = "no X-Gitlab-Event header";
    return;
  }
  if (!cfg_.events.count(r.event)) {
    std::lock_guard lock(mu_);
    ++stats_.ignored;
    r.refuse_status = 200;  // accepted, not handled
    r.refuse_why = "event '" + printable(r.event) + "' is not handled here; ignored";
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_.load() || queue_.size() >= cfg_.max_queue || queued_bytes_ + r.body.size() > cfg_.max_queue_bytes) {
      ++stats_.dropped;
      r.refuse_status = 503;
      r.refuse_why = "busy: " + std::to_string(queue_.size()) + " deliveries (" + std::to_string(queued_bytes_) +
                     " bytes) waiting";
      return;
    }
    ++stats_.accepted;
    queued_bytes_ += r.body.size();
    queue_.push_back(WebhookDelivery{r.event, r.uuid, std::move(r.body), json()});
  }
  cv_.notify_one();
}

int WebhookServer::on_lws(struct lws* wsi, int reason, void* user, void* in, size_t len) {
  Request** slot = user ? slot_of(user) : nullptr;
  switch (reason) {
    case LWS_CALLBACK_HTTP: {
      if (!slot) return -1;
      delete *slot;  // a keep-alive connection's earlier request
      *slot = new Request();
      Request& r = **slot;
      r.peer = peer_address(wsi);
      r.method = method_of(wsi);
      r.path = in ? std::string(static_cast<const char*>(in), len) : std::string();
      std::string cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
      bool has_length = !cl.empty();
      bool chunked = !header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING).empty();
      bool length_ok = has_length && cl.size() <= 12 && cl.find_first_not_of("0123456789") == std::string::npos;
      r.content_length = length_ok ? std::stoull(cl) : 0;
      bool has_body = chunked || r.content_length > 0;

      // Answered at once: the body is not read (and the connection closed when there is one).
      auto now = [&](int status, const std::string& why) {
        refuse(wsi, r, status, why);
        if (respond(wsi, r, status, why) < 0 || has_body) return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
      };
      if (r.method != "POST") {
        if (r.path != cfg_.path) return now(404, "no such path");
        return now(405, "method " + r.method + " not allowed (POST only)");
      }
      if (chunked || !has_length) return now(411, "a Content-Length is required");
      if (!length_ok) return now(400, "bad Content-Length");
      if (r.content_length > cfg_.max_body_bytes)
        return now(413, "body of " + cl + " bytes is over the limit of " + std::to_string(cfg_.max_body_bytes));

      // Decided now, answered after the body (read and dropped when refused).
      auto token = custom_header(wsi, "x-gitlab-token:");
      r.event = printable(custom_header(wsi, "x-gitlab-event:").value_or(""), 64);
      r.uuid = printable(custom_header(wsi, "x-gitlab-event-uuid:").value_or(""), 64);
      if (r.path != cfg_.path) r.refuse_status = 404, r.refuse_why = "no such path";
      else if (!token) r.refuse_status = 401, r.refuse_why = "no X-Gitlab-Token header";
      else if (!secret_equals(*token, cfg_.secret)) r.refuse_status = 401, r.refuse_why = "wrong X-Gitlab-Token";
      if (!has_body) {  // Content-Length: 0
        finish_body(wsi, r);
        return answer(wsi, r);
      }
      return 0;  // the body follows
    }
    case LWS_CALLBACK_HTTP_BODY: {
      if (!slot || !*slot) return -1;
      Request& r = **slot;
      if (r.refuse_status) return 0;  // read and dropped
      if (r.body.size() + len > cfg_.max_body_bytes || r.body.size() + len > r.content_length) {
        refuse(wsi, r, 413, "body longer than announced or over the limit");
        respond(wsi, r, 413, "body too large");
        return -1;
      }
      r.body.append(static_cast<const char*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      if (!slot || !*slot) return -1;
      finish_body(wsi, **slot);
      return answer(wsi, **slot);
    }
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
      if (slot) {
        delete *slot;
        *slot = nullptr;
      }
      break;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), user, in, len);
}

// The answer to a request whose body (if any) was read: the refusal decided, or 202.
int WebhookServer::answer(struct lws* wsi, Request& r) {
  int status = r.refuse_status ? r.refuse_status : 202;
  std::string text = r.refuse_status ? r.refuse_why : "accepted";
  if (status >= 400) refuse(wsi, r, status, r.refuse_why);
  else if (status == 200) log(kLevelInfo, "gitlab webhook: " + r.refuse_why);
  else
    log(kLevelDebug, "gitlab webhook: accepted " + r.event + (r.uuid.empty() ? "" : " " + r.uuid) + " from " + r.peer);
  if (respond(wsi, r, status, text) < 0) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

}  // namespace ccmux::gitlab
