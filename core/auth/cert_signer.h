// Signs a client (device) certificate with the machine's CA from `ccmux certs init`
// (<ca_dir>/ca.crt + ca.key), mbedTLS: a fresh ECDSA P-256 key, CN = the device's name,
// extendedKeyUsage clientAuth, a random 16-byte serial. Nothing is written to disk.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

namespace ccmux {

struct SignedClientCert {
  std::string serial;       // 32 lowercase hex digits
  std::string fingerprint;  // SHA-256 of the certificate's DER, 64 lowercase hex digits
  int64_t not_after_ms = 0;
  std::string cert_pem, key_pem, ca_pem;
};

// Throws CommandError: not_found (no CA in ca_dir: run `ccmux certs init`), internal (a CA
// that cannot be read or whose key does not match, a signing failure).
SignedClientCert sign_client_cert(const std::string& ca_dir, const std::string& name, int days, time_t now);

}  // namespace ccmux
