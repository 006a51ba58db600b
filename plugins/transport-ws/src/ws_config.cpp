#include "ws_config.h"

#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace ccmux::ws {

using K = ccmux::ConfigKey;

const ccmux_config_spec kConfigKeys[] = {
    K::string("listen", "address to listen on").def("127.0.0.1"),  // not reachable from the network unless asked
    K::integer("port", "TCP port").def("8420").range(1, 65535),
    K::string("tls_cert", "PEM certificate file (with tls_key: serve https/wss only)"),
    K::string("tls_key", "PEM private key file"),
    K::list("allowed_origins", "browser Origins allowed to open a WebSocket (default: same origin)"),
    // A phone photo, base64, fits.
    K::integer("max_message_bytes", "largest message a client may send").def("16777216").range(1, 64 << 20),
    K::integer("send_queue_bytes", "per-client send queue; half full pauses the client's events")
        .def("1048576")
        .range(1, 4294967296.0),
    K::integer("slow_client_timeout_s", "a paused client that does not drain for this long is closed with 4008")
        .def("30")
        .range(1, 86400),
    K::integer("auth_max_failures", "failed logins per address within auth_window_s before refusing").def("5").range(1, 1000000),
    K::integer("auth_window_s", "rate-limit window in seconds").def("60").range(1, 86400 * 7),
    K::integer("auth_timeout_s", "seconds a socket has to authenticate").def("10").range(1, 3600),
    // Open WebSockets. Per address: a person's phone, laptop and a few tabs use a handful; 32
    // leaves room for a household behind one NAT while one address cannot take every slot.
    // In total: 256 is far above a personal daemon's clients (benches use 100) and bounds
    // what sockets can hold before login to a few MiB. Behind a reverse proxy every client
    // has the proxy's address: raise max_connections_per_address there.
    K::integer("max_connections", "open WebSockets in total; more get HTTP 503").def("256").range(1, 100000),
    K::integer("max_connections_per_address", "open WebSockets per remote address; more get HTTP 503").def("32").range(1, 100000),
    K::boolean("metrics_public", "serve /metrics without a bearer token").def("false"),
    K::string("static_root", "folder of the web page (default: the page shipped with the plugin)"),
};
const size_t kConfigKeyCount = sizeof(kConfigKeys) / sizeof(kConfigKeys[0]);

WsConfig parse_config(std::string_view config_json, const std::string& default_static_root) {
  auto cfg = nlohmann::json::parse(config_json);
  WsConfig c;
  c.listen = cfg.at("listen");
  c.port = cfg.at("port");
  c.tls_cert = cfg.value("tls_cert", "");
  c.tls_key = cfg.value("tls_key", "");
  if (c.tls_cert.empty() != c.tls_key.empty())
    throw std::runtime_error("transport-ws: tls_cert and tls_key go together (make both with 'ccmux certs init')");
  if (cfg.contains("allowed_origins")) c.allowed_origins = cfg["allowed_origins"].get<std::vector<std::string>>();
  c.max_message_bytes = cfg.at("max_message_bytes");
  c.send_queue_bytes = cfg.at("send_queue_bytes");
  c.slow_client_timeout_s = cfg.at("slow_client_timeout_s");
  c.auth_max_failures = cfg.at("auth_max_failures");
  c.auth_window_s = cfg.at("auth_window_s");
  c.auth_timeout_s = cfg.at("auth_timeout_s");
  c.max_connections = cfg.at("max_connections");
  c.max_connections_per_address = cfg.at("max_connections_per_address");
  c.metrics_public = cfg.at("metrics_public");
  c.static_root = cfg.value("static_root", default_static_root);
  return c;
}

}  // namespace ccmux::ws
