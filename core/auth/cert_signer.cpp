#include "auth/cert_signer.h"

#include "errors.h"
#include "sha256.h"

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace ccmux {
namespace {

std::string mbed_error(int rc) {
  char buf[160];
  mbedtls_strerror(rc, buf, sizeof buf);
  return buf;
}

// RAII holders for the mbedTLS contexts used here.
struct Rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  Rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    static const char pers[] = "ccmux-client-certs";
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, reinterpret_cast<const unsigned char*>(pers),
                              sizeof pers - 1) != 0)
      throw CommandError("internal", "cannot seed the random generator");
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};
struct Pk {
  mbedtls_pk_context pk;
  Pk() { mbedtls_pk_init(&pk); }
  ~Pk() { mbedtls_pk_free(&pk); }
};
struct Crt {
  mbedtls_x509_crt crt;
  Crt() { mbedtls_x509_crt_init(&crt); }
  ~Crt() { mbedtls_x509_crt_free(&crt); }
};
struct Writer {
  mbedtls_x509write_cert crt;
  mbedtls_mpi serial;
  Writer() {
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);
  }
  ~Writer() {
    mbedtls_x509write_crt_free(&crt);
    mbedtls_mpi_free(&serial);
  }
};

std::string hex(const unsigned char* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

std::string utc(time_t t) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[16];
  strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// The CA's subject as the "CN=…,O=…" string mbedTLS's writer parses, in the certificate's own
// order, so the issuer written equals the CA's subject (what chain checks compare).
std::string subject_string(const mbedtls_x509_name* n) {
  std::string out;
  for (; n && n->oid.p; n = n->next) {
    const char* short_name = nullptr;
    if (mbedtls_oid_get_attr_short_name(&n->oid, &short_name) != 0)
      throw CommandError("unavailable", "the CA's subject has an attribute ccmux cannot copy");
    if (!out.empty()) out += ",";
    out += short_name;
    out += "=";
    for (size_t i = 0; i < n->val.len; ++i) {
      char c = static_cast<char>(n->val.p[i]);
      if (c == ',') out += '\\';  // the one escape mbedTLS 2.28's parser knows
      out += c;
    }
  }
  return out;
}

// extKeyUsage = clientAuth (mbedTLS 2.28 has no writer for it; its ASN.1 writer writes backwards).
std::vector<unsigned char> client_auth_eku_der() {
  unsigned char buf[64];
  unsigned char* p = buf + sizeof buf;
  int len = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
  len += mbedtls_asn1_write_len(&p, buf, static_cast<size_t>(len));
  len += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  if (len <= 0) throw CommandError("internal", "cannot encode extKeyUsage");
  return std::vector<unsigned char>(p, p + len);
}

void check(int rc, const std::string& what) {
  if (rc != 0) throw CommandError("internal", "cannot " + what + ": " + mbed_error(rc));
}

}  // namespace

SignedClientCert sign_client_cert(const std::string& ca_dir, const std::string& name, int days, time_t now) {
  const std::string crt_path = ca_dir + "/ca.crt", key_path = ca_dir + "/ca.key";
  for (auto& path : {crt_path, key_path})
    if (!std::filesystem::exists(path))
      throw CommandError("not_found", "no machine CA: " + path + " does not exist; run `ccmux certs init` first");
  Crt ca;
  if (int rc = mbedtls_x509_crt_parse_file(&ca.crt, crt_path.c_str()); rc != 0)
    throw CommandError("unavailable", "cannot read the CA certificate " + crt_path + ": " + mbed_error(rc));
  if (!ca.crt.ca_istrue) throw CommandError("unavailable", crt_path + " is not a CA certificate");
  Pk ca_key;
  if (int rc = mbedtls_pk_parse_keyfile(&ca_key.pk, key_path.c_str(), nullptr); rc != 0)
    throw CommandError("unavailable", "cannot read the CA key " + key_path + ": " + mbed_error(rc));
  if (mbedtls_pk_check_pair(&ca.crt.pk, &ca_key.pk) != 0)
    throw CommandError("unavailable", key_path + " is not the key of " + crt_path);

  Rng rng;
  Pk key;
  check(mbedtls_pk_setup(&key.pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "set up a key");
  check(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key.pk), mbedtls_ctr_drbg_random, &rng.drbg),
        "generate an ECDSA P-256 key");

  unsigned char serial[16];
  check(mbedtls_ctr_drbg_random(&rng.drbg, serial, sizeof serial), "draw a serial");
  serial[0] = static_cast<unsigned char>((serial[0] & 0x7f) | 0x40);  // positive, and always 16 bytes
  const time_t not_after = now + static_cast<time_t>(days) * 86400;

  Writer w;
  check(mbedtls_mpi_read_binary(&w.serial, serial, sizeof serial), "set the serial");
  check(mbedtls_x509write_crt_set_serial(&w.crt, &w.serial), "set the serial");
  check(mbedtls_x509write_crt_set_validity(&w.crt, utc(now - 3600).c_str(), utc(not_after).c_str()), "set the validity");
  check(mbedtls_x509write_crt_set_subject_name(&w.crt, ("CN=" + name + ",O=ccmux").c_str()), "set the subject");
  check(mbedtls_x509write_crt_set_issuer_name(&w.crt, subject_string(&ca.crt.subject).c_str()), "set the issuer");
  mbedtls_x509write_crt_set_version(&w.crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w.crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&w.crt, &key.pk);
  mbedtls_x509write_crt_set_issuer_key(&w.crt, &ca_key.pk);
  check(mbedtls_x509write_crt_set_basic_constraints(&w.crt, 0, -1), "set basic constraints");
  check(mbedtls_x509write_crt_set_key_usage(&w.crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE), "set key usage");
  auto eku = client_auth_eku_der();
  check(mbedtls_x509write_crt_set_extension(&w.crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku.data(), eku.size()),
        "set extKeyUsage");
  check(mbedtls_x509write_crt_set_subject_key_identifier(&w.crt), "set the subject key identifier");
  check(mbedtls_x509write_crt_set_authority_key_identifier(&w.crt), "set the authority key identifier");

  unsigned char buf[4096];
  check(mbedtls_x509write_crt_pem(&w.crt, buf, sizeof buf, mbedtls_ctr_drbg_random, &rng.drbg), "sign the certificate");
  SignedClientCert out;
  out.cert_pem = reinterpret_cast<char*>(buf);
  check(mbedtls_pk_write_key_pem(&key.pk, buf, sizeof buf), "write the key");
  out.key_pem = reinterpret_cast<char*>(buf);
  std::memset(buf, 0, sizeof buf);  // the key is handed back, not kept

  // The fingerprint is over the DER a TLS peer presents: read the PEM back to get it.
  Crt issued;
  check(mbedtls_x509_crt_parse(&issued.crt, reinterpret_cast<const unsigned char*>(out.cert_pem.c_str()),
                               out.cert_pem.size() + 1),
        "read back the certificate");
  out.fingerprint = sha256_hex(std::string_view(reinterpret_cast<const char*>(issued.crt.raw.p), issued.crt.raw.len));
  out.serial = hex(serial, sizeof serial);
  out.not_after_ms = static_cast<int64_t>(not_after) * 1000;
  std::ifstream in(crt_path, std::ios::binary);
  out.ca_pem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (out.ca_pem.empty()) throw CommandError("unavailable", "cannot read " + crt_path);
  return out;
}

}  // namespace ccmux
