// Client (device) certificates for mTLS transports: issue, list, revoke. Local socket only,
// like tokens: a remote transport's users cannot mint or revoke credentials.
#include "protocol/builtin_methods.h"

#include "daemon/core.h"

namespace ccmux {

using nlohmann::json;

namespace {
const char* const kCertsLocal = "client certificates are managed over the local socket only";
}  // namespace

void add_cert_methods(MethodRegistry& r) {
  // Every cert.* name is the daemon's, and refused to remote callers even when unknown.
  r.reserve_prefix("cert.", Trust::local, kCertsLocal);
  add_builtin(r, {.name = "cert.issue",
                  .trust = Trust::local,
                  .params = {{.name = "name", .required = true, .meaning = "1-64 of letters, digits, -_. (the CN)"},
                             {.name = "days",
                              .type = ParamType::integer,
                              .meaning = "validity (default 825)",
                              .min = 1,
                              .max = ClientCertStore::kMaxDays}},
                  .result = "{name, serial, fingerprint, not_after_ms, cert_pem, key_pem, ca_pem, ca_dir}: the only "
                            "time the key is shown (the daemon keeps none)",
                  .forbidden = kCertsLocal,
                  .handler = [](Call& c, const MethodDone& done) {
                    std::string name = c.p.required_str("name");
                    int days = static_cast<int>(c.p.integer("days", ClientCertStore::kDefaultDays, 1, ClientCertStore::kMaxDays));
                    IssuedCert ic = c.core.certs->issue(name, days);
                    done(true, {{"name", ic.name},
                                {"serial", ic.serial},
                                {"fingerprint", ic.fingerprint},
                                {"not_after_ms", ic.not_after_ms},
                                {"cert_pem", ic.cert_pem},
                                {"key_pem", ic.key_pem},
                                {"ca_pem", ic.ca_pem},
                                {"ca_dir", c.core.certs->ca_dir()}});
                  }});
  add_builtin(r, {.name = "cert.list",
                  .trust = Trust::local,
                  .result = "{certs: [{name, serial, fingerprint, created_ms, not_after_ms, last_used_ms, revoked_ms}], "
                            "ca_dir}",
                  .forbidden = kCertsLocal,
                  .handler = [](Call& c, const MethodDone& done) {
                    json arr = json::array();
                    for (auto& row : c.core.certs->list())
                      arr.push_back({{"name", row.name},
                                     {"serial", row.serial},
                                     {"fingerprint", row.fingerprint},
                                     {"created_ms", row.created_ms},
                                     {"not_after_ms", row.not_after_ms},
                                     {"last_used_ms", row.last_used_ms},
                                     {"revoked_ms", row.revoked_ms}});
                    done(true, {{"certs", arr}, {"ca_dir", c.core.certs->ca_dir()}});
                  }});
  add_builtin(r, {.name = "cert.revoke",
                  .trust = Trust::local,
                  .params = {{.name = "name", .required = true, .meaning = "the certificate's name"}},
                  .result = "{revoked: bool}; transports close that certificate's connections",
                  .forbidden = kCertsLocal,
                  .handler = [](Call& c, const MethodDone& done) {
                    done(true, {{"revoked", c.core.certs->revoke(c.p.required_str("name"))}});
                  }});
}

}  // namespace ccmux
