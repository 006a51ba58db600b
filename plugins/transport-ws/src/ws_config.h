// transport-ws configuration: the plugin's keys (README.md lists them) and their defaults.
#pragma once

#include <ccmux/plugin_abi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux::ws {

struct WsConfig {
  std::string listen = "127.0.0.1";
  int port = 8420;
  std::string tls_cert;  // both set: https/wss only
  std::string tls_key;
  std::vector<std::string> allowed_origins;  // empty: same origin as the Host header only
  size_t max_message_bytes = 16u << 20;      // a phone photo, base64, fits
  size_t send_queue_bytes = 1u << 20;        // per client; half full pauses its events (replayed later)
  int slow_client_timeout_s = 30;            // paused this long without draining: closed (4008)
  int auth_max_failures = 5;                 // per address within auth_window_s
  int auth_window_s = 60;
  int auth_timeout_s = 10;                   // a socket must authenticate this soon
  // Open WebSockets. Per address: a person's phone, laptop and a few tabs use a handful; 32
  // leaves room for a household behind one NAT while one address cannot take every slot.
  // In total: 256 is far above a personal daemon's clients (benches use 100) and bounds
  // what sockets can hold before login to a few MiB. Behind a reverse proxy every client
  // has the proxy's address: raise max_connections_per_address there.
  size_t max_connections = 256;
  size_t max_connections_per_address = 32;
  bool metrics_public = false;               // /metrics without a bearer token
  std::string static_root;                   // default: the page shipped with the plugin
};

// The keys declared to the host, which validates types and reports file:line:col.
extern const ccmux_config_key kConfigKeys[];
extern const size_t kConfigKeyCount;

// Reads the validated JSON object; throws std::runtime_error on values out of range.
WsConfig parse_config(std::string_view config_json, const std::string& default_static_root);

}  // namespace ccmux::ws
