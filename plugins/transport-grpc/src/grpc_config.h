// transport-grpc configuration: the plugin's keys (README.md lists them), declared with
// their defaults and ranges so the host checks them (and `ccmuxd --check-config`) first.
#pragma once

#include <ccmux/plugin_abi.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace ccmux::grpcx {

struct GrpcConfig {
  std::string listen;     // address (IPv4, IPv6 or a name)
  int port = 0;
  bool plaintext = false; // no TLS: allowed on a loopback address only
  std::string tls_cert;   // server certificate + key (PEM files)
  std::string tls_key;
  std::string client_ca;  // CA that client certificates must chain to (ccmux certs init's ca.crt)
  bool tokens = true;     // accept `authorization: Bearer <token>` from clients without a certificate
  int auth_max_failures = 0;
  int auth_window_s = 0;
  size_t send_queue_bytes = 0;     // per stream; half full pauses its events (replayed later)
  size_t max_message_bytes = 0;    // largest message a client may send
  bool loopback = false;           // derived: listen is a loopback address
};

extern const ccmux_config_spec kConfigKeys[];
extern const size_t kConfigKeyCount;

// Reads the JSON object the host validated against kConfigKeys; throws std::runtime_error
// for what one key alone cannot say (TLS without a certificate, plain text off loopback).
GrpcConfig parse_config(std::string_view config_json);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_address(const std::string& host);

}  // namespace ccmux::grpcx
