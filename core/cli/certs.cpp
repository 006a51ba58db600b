#include "certs.h"

#include <arpa/inet.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

namespace ccmux {
namespace {

// RAII holders for the mbedTLS contexts used here.
struct Rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  Rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    static const char pers[] = "ccmux-certs";
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, reinterpret_cast<const unsigned char*>(pers),
                              sizeof pers - 1) != 0)
      throw CertError("cannot seed the random generator");
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};

struct Key {
  mbedtls_pk_context pk;
  explicit Key(Rng& rng) {
    mbedtls_pk_init(&pk);
    if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &rng.drbg) != 0)
      throw CertError("cannot generate an ECDSA P-256 key");
  }
  ~Key() { mbedtls_pk_free(&pk); }
  std::string pem() {
    unsigned char buf[4096];
    if (mbedtls_pk_write_key_pem(&pk, buf, sizeof buf) != 0) throw CertError("cannot write a key");
    return reinterpret_cast<char*>(buf);
  }
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

std::string utc(time_t t) {
  char buf[16];
  strftime(buf, sizeof buf, "%Y%m%d%H%M%S", gmtime(&t));
  return buf;
}

// subjectAltName: GeneralNames ::= SEQUENCE OF GeneralName, with dNSName [2] and iPAddress [7].
// mbedTLS 2.28 has no SAN writer, so it is built with its ASN.1 writer (which writes backwards).
std::vector<unsigned char> san_der(const CertRequest& req) {
  std::vector<unsigned char> buf(4096);
  unsigned char* start = buf.data();
  unsigned char* p = start + buf.size();
  size_t len = 0;
  auto check = [](int r) {
    if (r < 0) throw CertError("subjectAltName too large");
    return static_cast<size_t>(r);
  };
  for (auto it = req.ips.rbegin(); it != req.ips.rend(); ++it) {
    unsigned char addr[16];
    size_t n = 0;
    if (inet_pton(AF_INET, it->c_str(), addr) == 1) n = 4;
    else if (inet_pton(AF_INET6, it->c_str(), addr) == 1) n = 16;
    else throw CertError("not an IP address: " + *it);
    size_t l = check(mbedtls_asn1_write_raw_buffer(&p, start, addr, n));
    l += check(mbedtls_asn1_write_len(&p, start, l));
    l += check(mbedtls_asn1_write_tag(&p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7));
    len += l;
  }
  for (auto it = req.dns_names.rbegin(); it != req.dns_names.rend(); ++it) {
    size_t l = check(mbedtls_asn1_write_raw_buffer(&p, start, reinterpret_cast<const unsigned char*>(it->data()), it->size()));
    l += check(mbedtls_asn1_write_len(&p, start, l));
    l += check(mbedtls_asn1_write_tag(&p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
    len += l;
  }
  len += check(mbedtls_asn1_write_len(&p, start, len));
  len += check(mbedtls_asn1_write_tag(&p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  return std::vector<unsigned char>(p, p + len);
}

// extKeyUsage = serverAuth: iOS and macOS refuse TLS server certificates without it.
std::vector<unsigned char> server_auth_eku_der() {
  unsigned char buf[64];
  unsigned char* p = buf + sizeof buf;
  int len = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
  len += mbedtls_asn1_write_len(&p, buf, static_cast<size_t>(len));
  len += mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  if (len <= 0) throw CertError("cannot encode extKeyUsage");
  return std::vector<unsigned char>(p, p + len);
}

std::string sign(Writer& w, Rng& rng) {
  unsigned char buf[4096];
  if (mbedtls_x509write_crt_pem(&w.crt, buf, sizeof buf, mbedtls_ctr_drbg_random, &rng.drbg) != 0)
    throw CertError("cannot sign the certificate");
  return reinterpret_cast<char*>(buf);
}

void setup(Writer& w, Rng& rng, Key& subject, Key& issuer, const std::string& subject_name,
           const std::string& issuer_name, time_t now, int days) {
  unsigned char serial[16];
  mbedtls_ctr_drbg_random(&rng.drbg, serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  mbedtls_mpi_read_binary(&w.serial, serial, sizeof serial);
  if (mbedtls_x509write_crt_set_serial(&w.crt, &w.serial) != 0 ||
      mbedtls_x509write_crt_set_validity(&w.crt, utc(now - 3600).c_str(), utc(now + days * 86400L).c_str()) != 0 ||
      mbedtls_x509write_crt_set_subject_name(&w.crt, subject_name.c_str()) != 0 ||
      mbedtls_x509write_crt_set_issuer_name(&w.crt, issuer_name.c_str()) != 0)
    throw CertError("cannot fill in the certificate");
  mbedtls_x509write_crt_set_version(&w.crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w.crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&w.crt, &subject.pk);
  mbedtls_x509write_crt_set_issuer_key(&w.crt, &issuer.pk);
  mbedtls_x509write_crt_set_subject_key_identifier(&w.crt);
  mbedtls_x509write_crt_set_authority_key_identifier(&w.crt);
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::trunc) << text;
  chmod(path.c_str(), mode);
}

}  // namespace

void make_local_ca_and_server_cert(const CertRequest& req) {
  namespace fs = std::filesystem;
  if (req.dns_names.empty()) throw CertError("at least one host name is needed");
  for (const char* f : {"ca.crt", "ca.key", "server.crt", "server.key"})
    if (!req.force && fs::exists(req.dir + "/" + f))
      throw CertError(req.dir + "/" + f + " exists; use --force to replace the certificates");
  fs::create_directories(req.dir);
  chmod(req.dir.c_str(), 0700);

  Rng rng;
  Key ca_key(rng), server_key(rng);
  const time_t now = req.issued_at ? req.issued_at : time(nullptr);
  const std::string ca_name = "CN=ccmux local CA,O=ccmux";
  std::string ca_pem, server_pem;
  {
    Writer w;
    setup(w, rng, ca_key, ca_key, ca_name, ca_name, now, 3650);
    mbedtls_x509write_crt_set_basic_constraints(&w.crt, 1, 0);
    mbedtls_x509write_crt_set_key_usage(&w.crt, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    ca_pem = sign(w, rng);
  }
  {
    Writer w;
    setup(w, rng, server_key, ca_key, "CN=" + req.dns_names[0] + ",O=ccmux", ca_name, now, 825);  // browsers' limit
    mbedtls_x509write_crt_set_basic_constraints(&w.crt, 0, -1);
    mbedtls_x509write_crt_set_key_usage(&w.crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_AGREEMENT);
    auto san = san_der(req);
    if (mbedtls_x509write_crt_set_extension(&w.crt, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                                            0, san.data(), san.size()) != 0)
      throw CertError("cannot add subjectAltName");
    auto eku = server_auth_eku_der();
    if (mbedtls_x509write_crt_set_extension(&w.crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku.data(), eku.size()) != 0)
      throw CertError("cannot add extKeyUsage");
    server_pem = sign(w, rng);
  }
  write_file(req.dir + "/ca.key", ca_key.pem(), 0600);
  write_file(req.dir + "/server.key", server_key.pem(), 0600);
  write_file(req.dir + "/ca.crt", ca_pem, 0644);
  write_file(req.dir + "/server.crt", server_pem, 0644);
}

}  // namespace ccmux
