#include "ws_config.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace ccmux::ws {

const ccmux_config_key kConfigKeys[] = {
    {"listen", CCMUX_CFG_STRING, 0, "address to listen on (default 127.0.0.1)"},
    {"port", CCMUX_CFG_INT, 0, "TCP port (default 8420)"},
    {"tls_cert", CCMUX_CFG_STRING, 0, "PEM certificate file (with tls_key: serve https/wss only)"},
    {"tls_key", CCMUX_CFG_STRING, 0, "PEM private key file"},
    {"allowed_origins", CCMUX_CFG_STRING_LIST, 0, "browser Origins allowed to open a WebSocket (default: same origin)"},
    {"max_message_bytes", CCMUX_CFG_INT, 0, "largest message a client may send (default 16 MiB)"},
    {"send_queue_bytes", CCMUX_CFG_INT, 0, "per-client send queue; half full pauses the client's events (default 1 MiB)"},
    {"slow_client_timeout_s", CCMUX_CFG_INT, 0, "a paused client that does not drain for this long is closed with 4008 (default 30)"},
    {"auth_max_failures", CCMUX_CFG_INT, 0, "failed logins per address within auth_window_s before refusing (default 5)"},
    {"auth_window_s", CCMUX_CFG_INT, 0, "rate-limit window in seconds (default 60)"},
    {"auth_timeout_s", CCMUX_CFG_INT, 0, "seconds a socket has to authenticate (default 10)"},
    {"max_connections", CCMUX_CFG_INT, 0, "open WebSockets in total; more get HTTP 503 (default 256)"},
    {"max_connections_per_address", CCMUX_CFG_INT, 0, "open WebSockets per remote address; more get HTTP 503 (default 32)"},
    {"metrics_public", CCMUX_CFG_BOOL, 0, "serve /metrics without a bearer token (default false)"},
    {"static_root", CCMUX_CFG_STRING, 0, "folder of the web page (default: the page shipped with the plugin)"},
};
const size_t kConfigKeyCount = sizeof(kConfigKeys) / sizeof(kConfigKeys[0]);

namespace {
int64_t positive(const nlohmann::json& cfg, const char* key, int64_t def, int64_t max) {
  int64_t v = cfg.value(key, def);
  if (v <= 0 || v > max)
    throw std::runtime_error(std::string("transport-ws: ") + key + " must be between 1 and " + std::to_string(max));
  return v;
}
}  // namespace

WsConfig parse_config(std::string_view config_json, const std::string& default_static_root) {
  auto cfg = nlohmann::json::parse(config_json);
  WsConfig c;
  c.listen = cfg.value("listen", c.listen);
  c.port = static_cast<int>(positive(cfg, "port", c.port, 65535));
  c.tls_cert = cfg.value("tls_cert", "");
  c.tls_key = cfg.value("tls_key", "");
  if (c.tls_cert.empty() != c.tls_key.empty())
    throw std::runtime_error("transport-ws: tls_cert and tls_key go together (make both with 'ccmux certs init')");
  if (cfg.contains("allowed_origins")) c.allowed_origins = cfg["allowed_origins"].get<std::vector<std::string>>();
  c.max_message_bytes = positive(cfg, "max_message_bytes", c.max_message_bytes, int64_t{64} << 20);
  c.send_queue_bytes = positive(cfg, "send_queue_bytes", c.send_queue_bytes, int64_t{1} << 32);
  c.slow_client_timeout_s = static_cast<int>(positive(cfg, "slow_client_timeout_s", c.slow_client_timeout_s, 86400));
  c.auth_max_failures = static_cast<int>(positive(cfg, "auth_max_failures", c.auth_max_failures, 1000000));
  c.auth_window_s = static_cast<int>(positive(cfg, "auth_window_s", c.auth_window_s, 86400 * 7));
  c.auth_timeout_s = static_cast<int>(positive(cfg, "auth_timeout_s", c.auth_timeout_s, 3600));
  c.max_connections = positive(cfg, "max_connections", c.max_connections, 100000);
  c.max_connections_per_address = positive(cfg, "max_connections_per_address", c.max_connections_per_address, 100000);
  c.metrics_public = cfg.value("metrics_public", false);
  c.static_root = cfg.value("static_root", default_static_root);
  return c;
}

}  // namespace ccmux::ws
