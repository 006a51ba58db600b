#include "peer_auth.h"

#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include <cstddef>
#include <cstdio>

namespace ccmux::grpcx {

std::string peer_address(const std::string& peer) {
  if (peer.rfind("ipv4:", 0) != 0 && peer.rfind("ipv6:", 0) != 0) return peer;  // unix:..., or unknown: as is
  std::string p = peer.substr(5);
  for (auto [from, to] : {std::pair<const char*, const char*>{"%5B", "["}, {"%5D", "]"}})
    for (size_t at; (at = p.find(from)) != std::string::npos;) p.replace(at, 3, to);
  if (!p.empty() && p.front() == '[') {
    auto close = p.find(']');
    return close == std::string::npos ? p : p.substr(1, close - 1);
  }
  if (auto colon = p.rfind(':'); colon != std::string::npos && p.find(':') == colon) return p.substr(0, colon);
  return p;
}

std::optional<std::string> certificate_fingerprint(const std::string& pem, bool* expired) {
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  // mbedtls_x509_crt_parse wants the PEM's terminating NUL counted.
  int rc = mbedtls_x509_crt_parse(&crt, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1);
  if (rc != 0) {
    mbedtls_x509_crt_free(&crt);
    return std::nullopt;
  }
  unsigned char digest[32];
  mbedtls_sha256_ret(crt.raw.p, crt.raw.len, digest, 0);
  if (expired) *expired = mbedtls_x509_time_is_past(&crt.valid_to) != 0;
  mbedtls_x509_crt_free(&crt);
  std::string hex(64, '0');
  for (int i = 0; i < 32; ++i) std::snprintf(&hex[2 * i], 3, "%02x", digest[i]);
  return hex;
}

PeerAuth::PeerAuth(ccmux::Host& host, const GrpcConfig& cfg)
    : host_(host), cfg_(cfg), limiter_(cfg.auth_max_failures, std::chrono::seconds(cfg.auth_window_s)) {}

std::variant<Identity, grpc::Status> PeerAuth::refuse(const std::string& address, const std::string& why) {
  std::lock_guard lock(mu_);
  int n = limiter_.record_failure(address);
  host_.warn("transport-grpc: refused " + address + ": " + why + " (" + std::to_string(n) + " failure(s) in " +
             std::to_string(cfg_.auth_window_s) + " s)");
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, why);
}

std::variant<Identity, grpc::Status> PeerAuth::check(const grpc::CallbackServerContext& ctx) {
  Identity id;
  id.address = peer_address(ctx.peer());
  {
    std::lock_guard lock(mu_);
    if (int wait = limiter_.retry_after_s(id.address); wait > 0)
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "too many failed authentications from " + id.address + ": retry in " + std::to_string(wait) + " s");
  }
  auto auth = ctx.auth_context();
  bool tls = false;
  if (auth)
    for (const auto& v : auth->FindPropertyValues("transport_security_type")) tls = tls || v == "ssl";
  std::string pem;
  if (auth)
    for (const auto& v : auth->FindPropertyValues("x509_pem_cert")) pem.assign(v.data(), v.size());
  if (!pem.empty()) {
    bool expired = false;
    auto fp = certificate_fingerprint(pem, &expired);
    if (!fp) return refuse(id.address, "client certificate does not parse");
    if (expired) return refuse(id.address, "client certificate expired");
    // The raw call, as for tokens below: a stopping ccmuxd is not a revoked certificate.
    const ccmux_host_api* api = host_.raw();
    if (api->struct_size < offsetof(ccmux_host_api, authenticate_certificate) + sizeof(void*))
      return refuse(id.address, "this ccmuxd (SDK < 1.5) cannot check client certificates");
    char name[128];
    int rc = api->authenticate_certificate(api->host, fp->data(), fp->size(), name, sizeof name);
    if (rc == CCMUX_ERR_STOPPING) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping");
    if (rc != CCMUX_OK) return refuse(id.address, "client certificate " + fp->substr(0, 16) + "… is unknown or revoked");
    id.name = name;
    id.kind = "certificate";
  } else {
    std::string token;
    for (const auto& [k, v] : ctx.client_metadata())
      if (k == "authorization") {
        std::string_view s(v.data(), v.size());
        if (s.rfind("Bearer ", 0) == 0) token = std::string(s.substr(7));
      }
    if (token.empty()) return refuse(id.address, "no client certificate and no bearer token");
    if (!cfg_.tokens) return refuse(id.address, "tokens are not accepted here (tokens: false): use a client certificate");
    if (!tls && !cfg_.plaintext) return refuse(id.address, "a token needs TLS");
    // The raw call: once ccmuxd is stopping it refuses every token (CCMUX_ERR_STOPPING), and a
    // good one must not be told it is bad (a client would drop it) nor count as a failure.
    const ccmux_host_api* api = host_.raw();
    if (api->struct_size < offsetof(ccmux_host_api, authenticate) + sizeof(void*)) return refuse(id.address, "bad token");
    char name[128];
    int rc = api->authenticate(api->host, token.data(), token.size(), name, sizeof name);
    if (rc == CCMUX_ERR_STOPPING) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping");
    if (rc != CCMUX_OK) return refuse(id.address, "bad token");
    id.name = name;
    id.kind = "token";
  }
  {
    std::lock_guard lock(mu_);
    limiter_.record_success(id.address);
  }
  id.client_name = "grpc:" + id.kind + ":" + id.name + "@" + id.address;
  return id;
}

}  // namespace ccmux::grpcx
