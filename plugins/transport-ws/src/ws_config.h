// transport-ws configuration: the plugin's keys (README.md lists them), declared with their
// defaults and ranges so the host checks them (and `ccmuxd --check-config` does) before start.
#pragma once

#include <ccmux/plugin_abi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux::ws {

// Defaults and ranges live in kConfigKeys (ws_config.cpp), not here.
struct WsConfig {
  std::string listen;
  int port = 0;
  std::string tls_cert;  // both set: https/wss only
  std::string tls_key;
  std::vector<std::string> allowed_origins;  // empty: same origin as the Host header only
  size_t max_message_bytes = 0;              // a phone photo, base64, fits
  size_t send_queue_bytes = 0;               // per client; half full pauses its events (replayed later)
  int slow_client_timeout_s = 0;             // paused this long without draining: closed (4008)
  int auth_max_failures = 0;                 // per address within auth_window_s
  int auth_window_s = 0;
  int auth_timeout_s = 0;                    // a socket must authenticate this soon
  size_t max_connections = 0;
  size_t max_connections_per_address = 0;
  bool metrics_public = false;               // /metrics without a bearer token
  std::string static_root;                   // default: the page shipped with the plugin
};

// The keys declared to the host (SDK 1.4): type, default, range. The host validates the
// plugin's entry against them, reports file:line:col, and fills in the defaults.
extern const ccmux_config_spec kConfigKeys[];
extern const size_t kConfigKeyCount;

// Reads the JSON object the host validated against kConfigKeys (every key with a default is
// there); throws std::runtime_error for what one key cannot say (tls_cert without tls_key).
WsConfig parse_config(std::string_view config_json, const std::string& default_static_root);

}  // namespace ccmux::ws
