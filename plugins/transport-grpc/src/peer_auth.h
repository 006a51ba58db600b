// Who is calling: a client certificate that chains to the machine's CA (checked by TLS) and
// was issued by `ccmux certs issue` and not revoked (checked here, against the daemon), or a
// `ccmux token create` token in `authorization: Bearer` metadata. Failures are rate-limited
// per remote address like transport-ws logins.
#pragma once

#include "grpc_config.h"

#include <ccmux/auth_limiter.hpp>
#include <ccmux/plugin.hpp>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace ccmux::grpcx {

struct Identity {
  std::string name;         // the certificate's or the token's name
  std::string kind;         // "certificate" | "token"
  std::string address;      // the peer's address without port
  std::string client_name;  // the in-daemon client's name: grpc:<kind>:<name>@<address>
};

// "ipv4:10.0.0.5:4711" -> "10.0.0.5"; "ipv6:[::1]:4711" (or %5B::1%5D) -> "::1".
std::string peer_address(const std::string& grpc_peer);
// Lowercase hex SHA-256 of the certificate's DER; nullopt when the PEM does not parse.
// `expired` is set when its notAfter is past.
std::optional<std::string> certificate_fingerprint(const std::string& pem, bool* expired);

class PeerAuth {
 public:
  PeerAuth(ccmux::Host& host, const GrpcConfig& cfg);
  // Blocks briefly (the daemon checks the token or certificate). Status UNAUTHENTICATED
  // (or RESOURCE_EXHAUSTED while the address is rate-limited) when refused.
  std::variant<Identity, grpc::Status> check(const grpc::CallbackServerContext& ctx);

 private:
  std::variant<Identity, grpc::Status> refuse(const std::string& address, const std::string& why);

  ccmux::Host& host_;
  const GrpcConfig& cfg_;
  std::mutex mu_;
  ccmux::AuthLimiter limiter_;
};

}  // namespace ccmux::grpcx
