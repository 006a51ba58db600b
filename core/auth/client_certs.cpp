#include "auth/client_certs.h"

#include "auth/cert_signer.h"
#include "errors.h"
#include "util.h"

#include <cctype>

namespace ccmux {

ClientCertStore::ClientCertStore(Store& store, std::string ca_dir, std::function<int64_t()> clock)
    : store_(store), ca_dir_(std::move(ca_dir)), clock_(clock ? std::move(clock) : std::function<int64_t()>(now_ms)) {}

IssuedCert ClientCertStore::issue(const std::string& name, int days) {
  // The name becomes the CN and file names (NAME.crt): nothing that needs escaping anywhere.
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != std::string::npos ||
      name == "." || name == "..")
    throw CommandError("bad_params", "a certificate name is 1-64 characters of letters, digits, '-', '_' or '.'");
  if (days < 1 || days > kMaxDays)
    throw CommandError("bad_params", "days must be from 1 to " + std::to_string(kMaxDays));
  if (store_.cert_name_live(name))
    throw CommandError("exists", "a certificate named '" + name + "' exists (revoke it first: ccmux certs revoke " + name + ")");
  const int64_t now = clock_();
  SignedClientCert s = sign_client_cert(ca_dir_, name, days, static_cast<time_t>(now / 1000));
  store_.cert_insert({s.serial, name, s.fingerprint, now, s.not_after_ms, 0, 0});
  store_.commit();
  return {name, s.serial, s.fingerprint, s.not_after_ms, std::move(s.cert_pem), std::move(s.key_pem), std::move(s.ca_pem)};
}

std::vector<Store::CertRow> ClientCertStore::list() { return store_.cert_list(); }

bool ClientCertStore::revoke(const std::string& name) {
  bool revoked = store_.cert_revoke(name, clock_());
  store_.commit();
  if (revoked) listeners_.notify(name);
  return revoked;
}

std::optional<std::string> ClientCertStore::authenticate(std::string_view fingerprint_hex) {
  if (fingerprint_hex.size() != 64) return std::nullopt;
  std::string fp;
  for (char c : fingerprint_hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    fp.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  auto row = store_.cert_find(fp);
  const int64_t now = clock_();
  if (!row || row->revoked_ms || now >= row->not_after_ms) return std::nullopt;
  // A busy client authenticates on every stream: one write a minute is enough for "last use".
  if (now - row->last_used_ms >= kTouchEveryMs) store_.cert_touch(row->serial, now);
  return row->name;
}

}  // namespace ccmux
