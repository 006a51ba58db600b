// `ccmux certs issue`: writes what cert.issue answered as files a device can use — NAME.crt,
// NAME.key (0600), ca.crt and NAME.p12 (PKCS#12 of key + certificate + CA, OpenSSL, for
// phones and browsers) — into a 0700 folder. Never overwrites without `force`.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ccmux {

struct ClientCertFiles {
  std::string dir;
  std::string name;
  std::string cert_pem, key_pem, ca_pem;
  std::string p12_password;  // not empty (random_p12_password() when the user gave none)
  bool force = false;
};

struct CertFilesError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The four paths write_client_cert_files() writes, in order (.crt, .key, ca.crt, .p12).
std::vector<std::string> client_cert_paths(const std::string& dir, const std::string& name);
// Throws CertFilesError naming the first of them that exists (unless `force`).
void check_client_cert_paths(const std::string& dir, const std::string& name, bool force);
// Writes the files; returns their paths. Throws CertFilesError.
std::vector<std::string> write_client_cert_files(const ClientCertFiles& f);
// 24 random letters and digits (OpenSSL RAND_bytes).
std::string random_p12_password();
// A PKCS#12 bundle (DER) of the key, its certificate and the CA, protected by `password`.
std::string make_pkcs12(const std::string& key_pem, const std::string& cert_pem, const std::string& ca_pem,
                        const std::string& password, const std::string& friendly_name);

}  // namespace ccmux
