#include "client_cert_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace ccmux {
namespace {

std::string openssl_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return what + (e ? std::string(": ") + buf : "");
}

struct Free {
  void operator()(BIO* b) const { BIO_free(b); }
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(X509* x) const { X509_free(x); }
  void operator()(PKCS12* p) const { PKCS12_free(p); }
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

Owned<BIO> mem(const std::string& s) { return Owned<BIO>(BIO_new_mem_buf(s.data(), static_cast<int>(s.size()))); }

// O_EXCL unless forced: nothing that appeared meanwhile is replaced. The mode is set at
// creation, so a key is never readable by others, even for a moment.
void write_file(const std::string& path, const std::string& data, mode_t mode, bool force) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL), mode);
  if (fd < 0) throw CertFilesError("cannot write " + path + ": " + std::strerror(errno));
  bool ok = fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  int err = errno;
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  if (!ok) throw CertFilesError("cannot write " + path + ": " + std::strerror(err));
}

}  // namespace

std::vector<std::string> client_cert_paths(const std::string& dir, const std::string& name) {
  return {dir + "/" + name + ".crt", dir + "/" + name + ".key", dir + "/ca.crt", dir + "/" + name + ".p12"};
}

void check_client_cert_paths(const std::string& dir, const std::string& name, bool force) {
  if (force) return;
  for (auto& p : client_cert_paths(dir, name)) {
    std::error_code ec;
    if (std::filesystem::symlink_status(p, ec).type() != std::filesystem::file_type::not_found)
      throw CertFilesError(p + " exists; use --force to replace it, or --out for another folder");
  }
}

std::string random_p12_password() {
  static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";  // no look-alikes
  const size_t n = sizeof alphabet - 1;
  std::string out;
  while (out.size() < 24) {
    unsigned char b[32];
    if (RAND_bytes(b, sizeof b) != 1) throw CertFilesError(openssl_error("no random bytes"));
    for (unsigned char c : b)
      if (c < 256 - 256 % n && out.size() < 24) out.push_back(alphabet[c % n]);  // unbiased
  }
  return out;
}

std::string make_pkcs12(const std::string& key_pem, const std::string& cert_pem, const std::string& ca_pem,
                        const std::string& password, const std::string& friendly_name) {
  Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(mem(key_pem).get(), nullptr, nullptr, nullptr));
  if (!key) throw CertFilesError(openssl_error("cannot read the key"));
  Owned<X509> cert(PEM_read_bio_X509(mem(cert_pem).get(), nullptr, nullptr, nullptr));
  if (!cert) throw CertFilesError(openssl_error("cannot read the certificate"));
  Owned<STACK_OF(X509)> cas(sk_X509_new_null());
  auto ca_bio = mem(ca_pem);
  while (X509* ca = PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr)) sk_X509_push(cas.get(), ca);
  ERR_clear_error();  // the loop ends on "no start line"
  if (sk_X509_num(cas.get()) == 0) throw CertFilesError("no CA certificate to bundle");
  // 3DES + a SHA-1 MAC, not OpenSSL 3's AES/PBKDF2 default: iOS, macOS Keychain and older
  // Android refuse the latter ("wrong password"). The password protects a file in transit.
  const int pbe = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
  Owned<PKCS12> p12(PKCS12_create(password.c_str(), friendly_name.c_str(), key.get(), cert.get(), cas.get(), pbe, pbe,
                                  PKCS12_DEFAULT_ITER, -1, 0));
  if (!p12) throw CertFilesError(openssl_error("cannot make the PKCS#12 bundle"));
  if (PKCS12_set_mac(p12.get(), password.c_str(), -1, nullptr, 0, PKCS12_DEFAULT_ITER, EVP_sha1()) != 1)
    throw CertFilesError(openssl_error("cannot add the PKCS#12 MAC"));
  unsigned char* der = nullptr;
  int len = i2d_PKCS12(p12.get(), &der);
  if (len <= 0) throw CertFilesError(openssl_error("cannot encode the PKCS#12 bundle"));
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::vector<std::string> write_client_cert_files(const ClientCertFiles& f) {
  namespace fs = std::filesystem;
  check_client_cert_paths(f.dir, f.name, f.force);
  if (f.p12_password.empty()) throw CertFilesError("the PKCS#12 bundle needs a password");
  std::string p12 = make_pkcs12(f.key_pem, f.cert_pem, f.ca_pem, f.p12_password, f.name);
  // Folders made here are the owner's only: they hold a private key.
  fs::path made;
  for (fs::path p = fs::absolute(f.dir); !p.empty() && !fs::exists(p); p = p.parent_path()) made = p;
  std::error_code ec;
  fs::create_directories(f.dir, ec);
  if (ec) throw CertFilesError("cannot create " + f.dir + ": " + ec.message());
  if (!made.empty())
    for (fs::path p = fs::absolute(f.dir); p != made.parent_path(); p = p.parent_path()) chmod(p.c_str(), 0700);
  auto paths = client_cert_paths(f.dir, f.name);
  write_file(paths[0], f.cert_pem, 0644, f.force);
  write_file(paths[1], f.key_pem, 0600, f.force);
  write_file(paths[2], f.ca_pem, 0644, f.force);
  write_file(paths[3], p12, 0600, f.force);
  return paths;
}

}  // namespace ccmux
