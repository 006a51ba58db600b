// Stub: the server is being written (fix/gitlab-io).
#include "webhook_server.h"

#include <stdexcept>

namespace ccmux::gitlab {
struct WebhookServer::Request {};
WebhookServer::WebhookServer(WebhookConfig config, Handler handler, LogFn log)
    : cfg_(std::move(config)), handler_(std::move(handler)), log_(std::move(log)) {
  throw std::runtime_error("gitlab webhook server: not implemented yet");
}
WebhookServer::~WebhookServer() = default;
void WebhookServer::stop() {}
WebhookStats WebhookServer::stats() const { return {}; }
int WebhookServer::lws_callback(struct lws*, int, void*, void*, size_t) { return 0; }
bool WebhookServer::secret_equals(const std::string& a, const std::string& b) { return a == b; }
}  // namespace ccmux::gitlab
