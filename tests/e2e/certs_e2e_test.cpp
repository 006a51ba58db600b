// Device certificates end to end: the real ccmuxd and `ccmux certs issue|list|revoke` over its
// socket, real files checked with mbedTLS (chain) and OpenSSL (the PKCS#12 bundle), and the
// SDK 1.5 calls through a test plugin (tests/plugins/cert_probe_plugin.cpp) that serves
// certprobe.* methods: authenticate_certificate, what it heard revoked, and what its in-daemon
// client (a remote transport's user) was answered for cert.* requests.
#include "harness.h"
#include "sha256.h"

#include <gtest/gtest.h>
#include <mbedtls/x509_crt.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sys/stat.h>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;

namespace {

std::string test_plugin(const std::string& name) { return std::string(CCMUX_TEST_PLUGIN_DIR) + "/lib" + name + ".so"; }

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// 0 when `cert` (a PEM file) chains to `ca` (mbedTLS's own check; no host name).
uint32_t chain_flags(const std::string& cert, const std::string& ca) {
  mbedtls_x509_crt c, a;
  mbedtls_x509_crt_init(&c);
  mbedtls_x509_crt_init(&a);
  EXPECT_EQ(mbedtls_x509_crt_parse_file(&c, cert.c_str()), 0) << cert;
  EXPECT_EQ(mbedtls_x509_crt_parse_file(&a, ca.c_str()), 0) << ca;
  uint32_t flags = 0;
  int rc = mbedtls_x509_crt_verify(&c, &a, nullptr, nullptr, &flags, nullptr, nullptr);
  mbedtls_x509_crt_free(&c);
  mbedtls_x509_crt_free(&a);
  return rc == 0 ? 0 : (flags ? flags : 0xffffffffu);
}

std::string der_of_pem(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (!x) return "";
  unsigned char* der = nullptr;
  int n = i2d_X509(x, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

// What OpenSSL finds in a PKCS#12 file with `password`: the certificate's DER, whether the
// key is that certificate's, and the CA certificates' DER. ok = false when it does not open.
struct P12 {
  bool ok = false;
  std::string cert_der;
  bool key_matches = false;
  std::vector<std::string> ca_der;
};
P12 open_p12(const std::string& path, const std::string& password) {
  P12 out;
  std::string bytes = read_file(path);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  PKCS12* p12 = d2i_PKCS12(nullptr, &p, static_cast<long>(bytes.size()));
  if (!p12) return out;
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* cas = nullptr;
  out.ok = PKCS12_parse(p12, password.c_str(), &key, &cert, &cas) == 1;
  if (out.ok && cert) {
    unsigned char* der = nullptr;
    int n = i2d_X509(cert, &der);
    out.cert_der.assign(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    out.key_matches = key && X509_check_private_key(cert, key) == 1;
  }
  for (int i = 0; cas && i < sk_X509_num(cas); ++i) {
    unsigned char* der = nullptr;
    int n = i2d_X509(sk_X509_value(cas, i), &der);
    out.ca_der.emplace_back(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  sk_X509_pop_free(cas, X509_free);
  PKCS12_free(p12);
  return out;
}

class CertsE2E : public ::testing::Test {
 protected:
  CertsE2E() {
    DaemonOptions o;
    o.extra_yaml = "plugins:\n  - name: cert_probe\n    required: true\n    path: " + test_plugin("cert_probe") + "\n";
    f = std::make_unique<FakeDaemon>(o);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- ccmuxd log ----\n" << f->d->log().substr(0, 20000) << "\n";
  }
  std::string tls() const { return f->dir.path + "/tls"; }  // beside the daemon's config file
  int ccmux(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), {ccmux_bin(), "--socket=" + f->d->socket()});
    return run_command(args, out);
  }
  void init_ca() {
    std::string out;
    ASSERT_EQ(ccmux({"certs", "init", "--dir", tls()}, &out), 0) << out;
  }
  json probe(const std::string& method, const json& params = json::object()) {
    return f->d->connect()->request(method, params);
  }
  std::unique_ptr<FakeDaemon> f;
};

}  // namespace

TEST_F(CertsE2E, IssueWritesFilesThatChainToTheCaAndAP12ThatOpensWithThePrintedPassword) {
  init_ca();
  std::string out;
  ASSERT_EQ(ccmux({"certs", "issue", "laptop", "--days", "90"}, &out), 0) << out;
  const std::string dir = tls() + "/clients/laptop";
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("PKCS#12 password \\(shown only now\\): ([A-Za-z0-9]{24})\n"))) << out;
  const std::string password = m[1];
  for (const char* file : {"/laptop.crt", "/laptop.key", "/ca.crt", "/laptop.p12"})
    EXPECT_NE(out.find(dir + file), std::string::npos) << "prints what it wrote: " << out;

  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(tls() + "/clients"), 0700u);
  EXPECT_EQ(mode_of(dir + "/laptop.key"), 0600u);
  EXPECT_EQ(mode_of(dir + "/laptop.p12"), 0600u);
  EXPECT_EQ(mode_of(dir + "/laptop.crt"), 0644u);
  EXPECT_EQ(read_file(dir + "/ca.crt"), read_file(tls() + "/ca.crt"));
  EXPECT_EQ(chain_flags(dir + "/laptop.crt", dir + "/ca.crt"), 0u);

  const std::string der = der_of_pem(read_file(dir + "/laptop.crt"));
  ASSERT_FALSE(der.empty());
  P12 p12 = open_p12(dir + "/laptop.p12", password);
  ASSERT_TRUE(p12.ok);
  EXPECT_EQ(p12.cert_der, der) << "the bundle holds the issued certificate";
  EXPECT_TRUE(p12.key_matches) << "and its key";
  ASSERT_EQ(p12.ca_der.size(), 1u);
  EXPECT_EQ(p12.ca_der[0], der_of_pem(read_file(tls() + "/ca.crt")));
  EXPECT_FALSE(open_p12(dir + "/laptop.p12", password + "x").ok) << "a wrong password does not open it";

  // The fingerprint (lowercase hex SHA-256 of the DER) is what the daemon knows it by.
  const std::string fp = sha256_hex(der);
  EXPECT_NE(out.find("fingerprint (SHA-256) " + fp), std::string::npos) << out;
  json listed = probe("cert.list");
  ASSERT_EQ(listed["certs"].size(), 1u);
  EXPECT_EQ(listed["certs"][0]["fingerprint"], fp);
  EXPECT_EQ(listed["ca_dir"], tls());
  const std::string serial = listed["certs"][0]["serial"];
  EXPECT_EQ(serial.size(), 32u);
  ASSERT_EQ(ccmux({"certs", "list"}, &out), 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("NAME +SERIAL +EXPIRES +LAST USE +REVOKED\n")));
  EXPECT_TRUE(std::regex_search(out, std::regex("laptop +" + serial + " +20[0-9-]+ [0-9:]+ +never +-\n"))) << out;
}

TEST_F(CertsE2E, APluginAuthenticatesByFingerprintUntilRevokedAndHearsTheRevocation) {
  init_ca();
  json plugins = probe("plugins.list")["plugins"];
  // Built with SDK 1.5 or later (authenticate_certificate came with 1.5).
  EXPECT_TRUE(std::regex_search(plugins.dump(), std::regex(R"re("sdk":"1\.([5-9]|[1-9][0-9])")re"))) << plugins.dump();
  std::string out;
  ASSERT_EQ(ccmux({"certs", "issue", "laptop", "--out", f->dir.path + "/out", "--p12-password", "pw"}, &out), 0) << out;
  const std::string fp = sha256_hex(der_of_pem(read_file(f->dir.path + "/out/laptop.crt")));
  EXPECT_EQ(probe("certprobe.check", {{"fingerprint", fp}})["name"], "laptop");
  EXPECT_EQ(probe("cert.list")["certs"][0]["last_used_ms"].get<int64_t>() > 0, true) << "the use is recorded";
  EXPECT_TRUE(probe("certprobe.check", {{"fingerprint", std::string(64, 'a')}})["name"].is_null()) << "unknown";
  EXPECT_TRUE(probe("certprobe.check", {{"fingerprint", "laptop"}})["name"].is_null()) << "not a fingerprint";
  EXPECT_TRUE(probe("certprobe.revoked")["names"].empty());

  ASSERT_EQ(ccmux({"certs", "revoke", "laptop"}, &out), 0) << out;
  EXPECT_EQ(out, "revoked laptop\n");
  EXPECT_EQ(probe("certprobe.revoked")["names"], json::array({"laptop"}));
  EXPECT_TRUE(probe("certprobe.check", {{"fingerprint", fp}})["name"].is_null()) << "revoked";
  EXPECT_GT(probe("cert.list")["certs"][0]["revoked_ms"].get<int64_t>(), 0);
  ASSERT_EQ(ccmux({"certs", "list"}, &out), 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("laptop +[0-9a-f]{32} +20[0-9-]+ [0-9:]+ +20[0-9-]+ [0-9:]+ +20[0-9-]+ [0-9:]+\n")))
      << "last use and revocation dates: " << out;
  EXPECT_EQ(ccmux({"certs", "revoke", "laptop"}, &out), 1) << "nothing left to revoke";
  EXPECT_EQ(probe("certprobe.revoked")["names"].size(), 1u);
}

TEST_F(CertsE2E, FilesAreNeverOverwrittenWithoutForce) {
  init_ca();
  const std::string dir = f->dir.path + "/out";
  std::string out;
  ASSERT_EQ(ccmux({"certs", "issue", "tablet", "--out", dir, "--p12-password", "first"}, &out), 0) << out;
  EXPECT_EQ(out.find("PKCS#12 password"), std::string::npos) << "a given password is not printed";
  const std::string before = read_file(dir + "/tablet.crt");
  ASSERT_EQ(ccmux({"certs", "revoke", "tablet"}, &out), 0) << out;

  EXPECT_EQ(ccmux({"certs", "issue", "tablet", "--out", dir, "--p12-password", "second"}, &out), 1);
  EXPECT_EQ(read_file(dir + "/tablet.crt"), before);
  EXPECT_EQ(probe("cert.list")["certs"].size(), 1u) << "refused before anything was issued";
  // Another device's files in the same folder would replace its ca.crt: refused too.
  EXPECT_EQ(ccmux({"certs", "issue", "phone", "--out", dir}, &out), 1);
  EXPECT_EQ(probe("cert.list")["certs"].size(), 1u);

  ASSERT_EQ(ccmux({"certs", "issue", "tablet", "--out", dir, "--p12-password", "second", "--force"}, &out), 0) << out;
  EXPECT_NE(read_file(dir + "/tablet.crt"), before);
  EXPECT_EQ(mode_of(dir + "/tablet.key"), 0600u);
  P12 p12 = open_p12(dir + "/tablet.p12", "second");
  ASSERT_TRUE(p12.ok);

  // The password from a file (kept out of argv, which ps shows): its first line.
  write_file(f->dir.path + "/pw", "from-a-file\nnot this\n");
  ASSERT_EQ(ccmux({"certs", "issue", "pen", "--out", f->dir.path + "/pen", "--p12-password-file", f->dir.path + "/pw"}, &out), 0)
      << out;
  EXPECT_EQ(out.find("PKCS#12 password"), std::string::npos) << out;
  EXPECT_TRUE(open_p12(f->dir.path + "/pen/pen.p12", "from-a-file").ok);
  write_file(f->dir.path + "/empty", "");
  EXPECT_EQ(ccmux({"certs", "issue", "pen2", "--out", f->dir.path + "/pen2", "--p12-password-file", f->dir.path + "/empty"}, &out), 1);
  EXPECT_NE(out.find("no password in"), std::string::npos) << out;
  EXPECT_NE(ccmux({"certs", "issue", "pen3", "--p12-password", "x", "--p12-password-file", f->dir.path + "/pw"}, &out), 0)
      << "one or the other";
  EXPECT_NE(out.find("excludes"), std::string::npos) << out;
  EXPECT_EQ(p12.cert_der, der_of_pem(read_file(dir + "/tablet.crt")));
}

TEST_F(CertsE2E, RefusedBadNamesDuplicatesNoCaAndRemoteCallers) {
  std::string out;
  // No CA yet: the error names the folder and the command that makes one.
  EXPECT_EQ(ccmux({"certs", "issue", "laptop", "--out", f->dir.path + "/out"}, &out), 1);
  std::string err;
  try {
    probe("cert.issue", {{"name", "laptop"}});
  } catch (const RequestFailed& e) {
    err = e.code + ": " + e.what();
  }
  EXPECT_EQ(err.rfind("not_found: ", 0), 0u) << err;
  EXPECT_NE(err.find(tls() + "/ca.crt"), std::string::npos) << err;
  EXPECT_NE(err.find("ccmux certs init"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(f->dir.path + "/out/laptop.key"));

  init_ca();
  auto code = [&](const json& params) {
    try {
      probe("cert.issue", params);
    } catch (const RequestFailed& e) {
      return e.code;
    }
    return std::string("ok");
  };
  EXPECT_EQ(code({{"name", "has space"}}), "bad_params");
  EXPECT_EQ(code({{"name", "../etc"}}), "bad_params");
  EXPECT_EQ(code({{"name", std::string(65, 'x')}}), "bad_params");
  EXPECT_EQ(code({{"name", "ok"}, {"days", 0}}), "bad_params");
  EXPECT_EQ(code({{"name", "ok"}, {"days", 3651}}), "bad_params");
  EXPECT_EQ(code({{"name", "ok"}, {"days", "10"}}), "bad_params");
  EXPECT_EQ(code({{"name", "ok"}}), "ok");
  EXPECT_EQ(code({{"name", "ok"}}), "exists");
  EXPECT_EQ(probe("cert.list")["certs"].size(), 1u);

  // A remote transport's user (a plugin's in-daemon client) may not issue, list or revoke.
  json codes;
  for (int i = 0; i < 100; ++i) {
    codes = probe("certprobe.remote")["codes"];
    if (codes.size() == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(codes, json({{"cert.issue", "forbidden"}, {"cert.list", "forbidden"}, {"cert.revoke", "forbidden"},
                         {"cert.unknown", "forbidden"}}));
  EXPECT_EQ(probe("cert.list")["certs"].size(), 1u) << "the remote issue made nothing";
}
