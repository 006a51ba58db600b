// Client (device) certificates for remote transports (mTLS): `cert.issue` signs one with the
// machine's CA (cert_signer.h) and records {name, serial, fingerprint, dates} in the store;
// the key goes to the caller only. Transports (plugins) ask authenticate() with the SHA-256
// fingerprint of the certificate a peer presented, and hear revocations to close its streams.
#pragma once

#include "auth/name_listeners.h"
#include "storage/store.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux {

struct IssuedCert {
  std::string name, serial, fingerprint;
  int64_t not_after_ms = 0;
  std::string cert_pem, key_pem, ca_pem;
};

class ClientCertStore {
 public:
  static constexpr int kDefaultDays = 825;  // what browsers accept for a leaf certificate
  static constexpr int kMaxDays = 3650;
  static constexpr int64_t kTouchEveryMs = 60000;  // last_used_ms is written at most this often

  // `ca_dir`: where `ccmux certs init` wrote ca.crt and ca.key. `clock`: milliseconds since
  // the epoch (tests pass their own).
  ClientCertStore(Store& store, std::string ca_dir, std::function<int64_t()> clock = {});

  // Throws CommandError: bad_params (name not 1-64 of letters, digits, -_. ; days out of
  // 1..3650), exists (an unrevoked certificate has that name), not_found (no CA).
  IssuedCert issue(const std::string& name, int days = kDefaultDays);
  std::vector<Store::CertRow> list();
  // True when an unrevoked certificate of that name existed; listeners are told.
  bool revoke(const std::string& name);
  // The name of an issued, unrevoked, unexpired certificate whose DER hashes to
  // `fingerprint_hex` (SHA-256, hex; case ignored), else nullopt. Records the use.
  std::optional<std::string> authenticate(std::string_view fingerprint_hex);

  const std::string& ca_dir() const { return ca_dir_; }
  NameListeners& revocation_listeners() { return listeners_; }

 private:
  Store& store_;
  std::string ca_dir_;
  std::function<int64_t()> clock_;
  NameListeners listeners_;
};

}  // namespace ccmux
