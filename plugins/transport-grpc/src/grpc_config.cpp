#include "grpc_config.h"

#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>

#include <stdexcept>

namespace ccmux::grpcx {

using K = ccmux::ConfigKey;

const ccmux_config_spec kConfigKeys[] = {
    K::string("listen", "address to listen on").def("127.0.0.1"),  // not reachable from the network unless asked
    K::integer("port", "TCP port").def("8421").range(1, 65535),
    K::boolean("plaintext", "no TLS (loopback addresses only)").def("false"),
    K::string("tls_cert", "PEM server certificate (ccmux certs init: server.crt)"),
    K::string("tls_key", "PEM server key (server.key)"),
    K::string("client_ca", "PEM CA that client certificates must chain to (ca.crt); required off loopback"),
    K::boolean("tokens", "accept 'authorization: Bearer <token>' over TLS from clients without a certificate").def("true"),
    K::integer("auth_max_failures", "failed authentications per address within auth_window_s before refusing").def("5").range(1, 1000000),
    K::integer("auth_window_s", "rate-limit window in seconds").def("60").range(1, 86400 * 7),
    K::integer("send_queue_bytes", "per-stream send queue; half full pauses the stream's events").def("1048576").range(4096, 4294967296.0),
    // A phone photo as raw bytes fits. At most 32 MiB: an image goes to the daemon as base64
    // (4/3 larger), which must stay under the protocol's 64 MiB per message.
    K::integer("max_message_bytes", "largest message a client may send").def("16777216").range(1024, 32 << 20),
};
const size_t kConfigKeyCount = sizeof(kConfigKeys) / sizeof(kConfigKeys[0]);

bool is_loopback_address(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

GrpcConfig parse_config(std::string_view config_json) {
  auto cfg = nlohmann::json::parse(config_json);
  GrpcConfig c;
  c.listen = cfg.at("listen");
  c.port = cfg.at("port");
  c.plaintext = cfg.at("plaintext");
  c.tls_cert = cfg.value("tls_cert", "");
  c.tls_key = cfg.value("tls_key", "");
  c.client_ca = cfg.value("client_ca", "");
  c.tokens = cfg.at("tokens");
  c.auth_max_failures = cfg.at("auth_max_failures");
  c.auth_window_s = cfg.at("auth_window_s");
  c.send_queue_bytes = cfg.at("send_queue_bytes");
  c.max_message_bytes = cfg.at("max_message_bytes");
  c.loopback = is_loopback_address(c.listen);
  if (c.plaintext) {
    if (!c.loopback)
      throw std::runtime_error("transport-grpc: plaintext is allowed on a loopback address only (listen is " + c.listen +
                               "): use TLS with client certificates (ccmux certs init, ccmux certs issue)");
    return c;
  }
  if (c.tls_cert.empty() || c.tls_key.empty())
    throw std::runtime_error(
        "transport-grpc: tls_cert and tls_key are required unless plaintext (make them with 'ccmux certs init')");
  if (!c.loopback && c.client_ca.empty())
    throw std::runtime_error("transport-grpc: client_ca is required on a non-loopback address (" + c.listen +
                             "): clients there must present a certificate from 'ccmux certs issue'");
  if (c.client_ca.empty() && !c.tokens)
    throw std::runtime_error("transport-grpc: with tokens: false, client_ca is required (nobody could authenticate)");
  return c;
}

}  // namespace ccmux::grpcx
