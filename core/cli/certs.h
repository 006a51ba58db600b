// `ccmux certs init`: a local CA and a server certificate signed by it (mbedTLS,
// ECDSA P-256, SHA-256), for remote transports when the user has no certificates.
#pragma once

#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

namespace ccmux {

struct CertRequest {
  std::string dir;                     // written: ca.crt, ca.key, server.crt, server.key
  std::vector<std::string> dns_names;  // subjectAltName dNSName entries (the first is the CN)
  std::vector<std::string> ips;        // subjectAltName iPAddress entries (IPv4 or IPv6)
  bool force = false;                  // overwrite existing files
  // When the certificates count as made (0: now). Tests only: certificates made 900 days ago
  // have a server certificate that expired (825 days), to see `ccmux doctor` say so.
  time_t issued_at = 0;
};

struct CertError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writes the four files (keys 0600). Throws CertError; never overwrites without `force`.
void make_local_ca_and_server_cert(const CertRequest& req);

}  // namespace ccmux
