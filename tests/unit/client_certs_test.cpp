// Client (device) certificates in the core (auth/client_certs.h): signed by a real CA that
// `ccmux certs init`'s code made, recorded in a real store file, checked with mbedTLS. The
// clock is the test's, so expiry and the once-a-minute last-use write can be seen.
#include "auth/client_certs.h"
#include "certs.h"
#include "errors.h"
#include "harness.h"
#include "sha256.h"
#include "storage/store.h"

#include <gtest/gtest.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include <ctime>
#include <filesystem>

using namespace ccmux;
using namespace ccmux::test;

namespace {

struct Parsed {
  mbedtls_x509_crt crt;
  explicit Parsed(const std::string& pem) {
    mbedtls_x509_crt_init(&crt);
    EXPECT_EQ(mbedtls_x509_crt_parse(&crt, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1), 0);
  }
  ~Parsed() { mbedtls_x509_crt_free(&crt); }
};

std::string code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CommandError& e) {
    return e.code + ": " + e.what();
  }
  return "no error";
}

struct Fixture {
  TempDir t;
  int64_t now = static_cast<int64_t>(time(nullptr)) * 1000;  // real: mbedTLS checks validity against it
  Store store{t.path + "/db"};
  ClientCertStore certs{store, t.path + "/tls", [this] { return now; }};
  Fixture() { make_local_ca_and_server_cert({t.path + "/tls", {"localhost"}, {"127.0.0.1"}, false, now / 1000}); }
};

}  // namespace

TEST(ClientCerts, IssuedCertificateChainsToTheMachineCaWithTheNameAsCnAndClientAuth) {
  Fixture f;
  IssuedCert ic = f.certs.issue("laptop", 30);
  Parsed cert(ic.cert_pem), ca(read_file(f.t.path + "/tls/ca.crt"));
  EXPECT_EQ(ic.ca_pem, read_file(f.t.path + "/tls/ca.crt"));
  uint32_t flags = 0;
  EXPECT_EQ(mbedtls_x509_crt_verify(&cert.crt, &ca.crt, nullptr, nullptr, &flags, nullptr, nullptr), 0) << flags;
  char subject[256];
  mbedtls_x509_dn_gets(subject, sizeof subject, &cert.crt.subject);
  EXPECT_EQ(std::string(subject), "CN=laptop, O=ccmux");
  EXPECT_EQ(mbedtls_x509_crt_check_extended_key_usage(&cert.crt, MBEDTLS_OID_CLIENT_AUTH,
                                                      MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
  EXPECT_NE(mbedtls_x509_crt_check_extended_key_usage(&cert.crt, MBEDTLS_OID_SERVER_AUTH,
                                                      MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
  EXPECT_FALSE(cert.crt.ca_istrue);
  EXPECT_EQ(mbedtls_pk_get_type(&cert.crt.pk), MBEDTLS_PK_ECKEY);
  // The fingerprint is SHA-256 over the DER, lowercase hex; the serial is 16 bytes of it.
  EXPECT_EQ(ic.fingerprint, sha256_hex(std::string_view(reinterpret_cast<const char*>(cert.crt.raw.p), cert.crt.raw.len)));
  ASSERT_EQ(ic.serial.size(), 32u);
  ASSERT_EQ(cert.crt.serial.len, 16u);
  char serial_hex[64] = {0};
  for (size_t i = 0; i < 16; ++i) snprintf(serial_hex + 2 * i, 3, "%02x", cert.crt.serial.p[i]);
  EXPECT_EQ(ic.serial, serial_hex);
  // Valid from an hour before now to `days` after it.
  EXPECT_EQ(ic.not_after_ms, f.now + 30 * 86400'000LL);
  time_t to = static_cast<time_t>(f.now / 1000) + 30 * 86400;
  struct tm tm {};
  gmtime_r(&to, &tm);
  EXPECT_EQ(cert.crt.valid_to.year, tm.tm_year + 1900);
  EXPECT_EQ(cert.crt.valid_to.mon, tm.tm_mon + 1);
  EXPECT_EQ(cert.crt.valid_to.day, tm.tm_mday);
  EXPECT_EQ(cert.crt.valid_from.hour, (cert.crt.valid_to.hour + 23) % 24);
  EXPECT_NE(ic.key_pem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_NE(f.certs.issue("phone").serial, ic.serial);
}

TEST(ClientCerts, TheKeyIsNotStoredOnlyTheRecord) {
  Fixture f;
  IssuedCert ic = f.certs.issue("laptop");
  std::string body = ic.key_pem.substr(ic.key_pem.find('\n') + 1, 40);  // base64 of the key
  std::string db = read_file(f.t.path + "/db") + read_file(f.t.path + "/db-wal");
  EXPECT_EQ(db.find(body), std::string::npos);
  EXPECT_NE(db.find(ic.fingerprint), std::string::npos);
  auto list = f.certs.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "laptop");
  EXPECT_EQ(list[0].serial, ic.serial);
  EXPECT_EQ(list[0].fingerprint, ic.fingerprint);
  EXPECT_EQ(list[0].created_ms, f.now);
  EXPECT_EQ(list[0].not_after_ms, f.now + 825 * 86400'000LL);
  EXPECT_EQ(list[0].last_used_ms, 0);
  EXPECT_EQ(list[0].revoked_ms, 0);
}

TEST(ClientCerts, AuthenticateByFingerprintUntilRevokedOrExpired) {
  Fixture f;
  IssuedCert laptop = f.certs.issue("laptop", 2);
  IssuedCert phone = f.certs.issue("phone", 10);
  EXPECT_EQ(f.certs.authenticate(laptop.fingerprint), "laptop");
  std::string upper = laptop.fingerprint;
  for (auto& c : upper) c = static_cast<char>(toupper(c));
  EXPECT_EQ(f.certs.authenticate(upper), "laptop") << "case is ignored";
  EXPECT_EQ(f.certs.authenticate(std::string(64, '0')), std::nullopt) << "unknown";
  EXPECT_EQ(f.certs.authenticate(laptop.fingerprint.substr(1)), std::nullopt) << "too short";
  EXPECT_EQ(f.certs.authenticate(laptop.fingerprint.substr(1) + "g"), std::nullopt) << "not hex";
  EXPECT_EQ(f.certs.authenticate(""), std::nullopt);
  EXPECT_EQ(f.certs.authenticate("' OR 1=1 --" + std::string(53, ' ')), std::nullopt);

  f.now += 2 * 86400'000LL;  // laptop's notAfter
  EXPECT_EQ(f.certs.authenticate(laptop.fingerprint), std::nullopt) << "expired";
  EXPECT_EQ(f.certs.authenticate(phone.fingerprint), "phone");
  EXPECT_TRUE(f.certs.revoke("phone"));
  EXPECT_EQ(f.certs.authenticate(phone.fingerprint), std::nullopt) << "revoked";
}

TEST(ClientCerts, LastUseIsWrittenAtMostOnceAMinute) {
  Fixture f;
  IssuedCert ic = f.certs.issue("laptop");
  auto used = [&] { return f.certs.list()[0].last_used_ms; };
  EXPECT_EQ(used(), 0);
  int64_t first = f.now;
  ASSERT_TRUE(f.certs.authenticate(ic.fingerprint));
  EXPECT_EQ(used(), first);
  f.now += 59'000;
  ASSERT_TRUE(f.certs.authenticate(ic.fingerprint));
  EXPECT_EQ(used(), first);
  f.now += 1'000;
  ASSERT_TRUE(f.certs.authenticate(ic.fingerprint));
  EXPECT_EQ(used(), f.now);
}

TEST(ClientCerts, RevokeTellsListenersOnceAndFreesTheName) {
  Fixture f;
  std::vector<std::string> heard;
  f.certs.revocation_listeners().add([&](const std::string& n) { heard.push_back(n); }, "plugin-a");
  IssuedCert first = f.certs.issue("tablet");
  EXPECT_TRUE(f.certs.revoke("tablet"));
  EXPECT_FALSE(f.certs.revoke("tablet")) << "already revoked";
  EXPECT_FALSE(f.certs.revoke("never-issued"));
  EXPECT_EQ(heard, std::vector<std::string>{"tablet"});
  // A revoked name may be issued again; the old certificate stays refused and listed.
  IssuedCert second = f.certs.issue("tablet");
  EXPECT_EQ(f.certs.authenticate(first.fingerprint), std::nullopt);
  EXPECT_EQ(f.certs.authenticate(second.fingerprint), "tablet");
  auto list = f.certs.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].revoked_ms, f.now);
  EXPECT_EQ(list[1].revoked_ms, 0);
  f.certs.revocation_listeners().remove("plugin-a");
  EXPECT_TRUE(f.certs.revoke("tablet"));
  EXPECT_EQ(heard.size(), 1u) << "a removed listener is not called";
}

TEST(ClientCerts, BadNamesDaysAndDuplicatesAreRefused) {
  Fixture f;
  f.certs.issue("a-b_c.1");
  EXPECT_EQ(code_of([&] { f.certs.issue("a-b_c.1"); }).substr(0, 7), "exists:");
  for (const std::string& bad : std::vector<std::string>{"", "has space", "../up", "a/b", "quote\"", "..", "semi;colon",
                                                        std::string(65, 'x'), "é"})
    EXPECT_EQ(code_of([&] { f.certs.issue(bad); }).substr(0, 11), "bad_params:") << bad;
  EXPECT_EQ(code_of([&] { f.certs.issue(std::string(64, 'x')); }), "no error");
  EXPECT_EQ(code_of([&] { f.certs.issue("zero", 0); }).substr(0, 11), "bad_params:");
  EXPECT_EQ(code_of([&] { f.certs.issue("long", 3651); }).substr(0, 11), "bad_params:");
  EXPECT_EQ(code_of([&] { f.certs.issue("ten-years", 3650); }), "no error");
  EXPECT_EQ(f.certs.list().size(), 3u) << "nothing recorded for a refused request";
}

TEST(ClientCerts, WithoutACaTheErrorNamesTheFolderAndTheCommand) {
  TempDir t;
  Store store(t.path + "/db");
  ClientCertStore certs(store, t.path + "/tls");
  std::string err = code_of([&] { certs.issue("laptop"); });
  EXPECT_EQ(err.rfind("not_found:", 0), 0u) << err;
  EXPECT_NE(err.find(t.path + "/tls/ca.crt"), std::string::npos) << err;
  EXPECT_NE(err.find("ccmux certs init"), std::string::npos) << err;
  EXPECT_TRUE(certs.list().empty());
}

TEST(ClientCerts, ACaKeyThatIsNotTheCertificatesIsRefused) {
  Fixture f;
  TempDir other;
  make_local_ca_and_server_cert({other.path, {"localhost"}, {}, false});
  std::filesystem::copy_file(other.path + "/ca.key", f.t.path + "/tls/ca.key",
                             std::filesystem::copy_options::overwrite_existing);
  std::string err = code_of([&] { f.certs.issue("laptop"); });
  EXPECT_NE(err.find("is not the key of"), std::string::npos) << err;
  EXPECT_TRUE(f.certs.list().empty());
}
