#include "certs.h"
#include "harness.h"

#include <gtest/gtest.h>
#include <mbedtls/x509_crt.h>

#include <filesystem>
#include <sys/stat.h>

using namespace ccmux;
using namespace ccmux::test;

namespace {
uint32_t verify(const std::string& dir, const char* name) {
  mbedtls_x509_crt ca, server;
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crt_init(&server);
  EXPECT_EQ(mbedtls_x509_crt_parse_file(&ca, (dir + "/ca.crt").c_str()), 0);
  EXPECT_EQ(mbedtls_x509_crt_parse_file(&server, (dir + "/server.crt").c_str()), 0);
  uint32_t flags = 0;
  mbedtls_x509_crt_verify(&server, &ca, nullptr, name, &flags, nullptr, nullptr);
  mbedtls_x509_crt_free(&ca);
  mbedtls_x509_crt_free(&server);
  return flags;
}
}  // namespace

TEST(Certs, ServerCertificateChainsToTheLocalCaForItsNames) {
  TempDir t;
  make_local_ca_and_server_cert({t.path + "/tls", {"localhost", "box.lan"}, {"127.0.0.1", "::1"}, false});
  EXPECT_EQ(verify(t.path + "/tls", "localhost"), 0u);
  EXPECT_EQ(verify(t.path + "/tls", "box.lan"), 0u);
  EXPECT_NE(verify(t.path + "/tls", "evil.example"), 0u) << "a name not in the certificate must not verify";
  struct stat st {};
  ASSERT_EQ(stat((t.path + "/tls/server.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((t.path + "/tls/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Certs, OpensslAcceptsTheChainAndTheIpAddress) {
  if (!std::filesystem::exists("/usr/bin/openssl")) GTEST_SKIP() << "no openssl";
  TempDir t;
  std::string d = t.path + "/tls";
  make_local_ca_and_server_cert({d, {"localhost"}, {"127.0.0.1"}, false});
  std::string out;
  EXPECT_EQ(run_command({"/usr/bin/openssl", "verify", "-CAfile", d + "/ca.crt", "-verify_ip", "127.0.0.1", d + "/server.crt"}, &out), 0)
      << out;
  EXPECT_EQ(run_command({"/usr/bin/openssl", "verify", "-CAfile", d + "/ca.crt", "-verify_hostname", "localhost", d + "/server.crt"}, &out), 0)
      << out;
  EXPECT_NE(run_command({"/usr/bin/openssl", "verify", "-CAfile", d + "/ca.crt", "-verify_ip", "10.1.2.3", d + "/server.crt"}, &out), 0);
  // Fit for a TLS server (iOS requires extKeyUsage serverAuth).
  EXPECT_EQ(run_command({"/usr/bin/openssl", "verify", "-CAfile", d + "/ca.crt", "-purpose", "sslserver", d + "/server.crt"}, &out), 0)
      << out;
  ASSERT_EQ(run_command({"/usr/bin/openssl", "x509", "-in", d + "/server.crt", "-noout", "-ext", "extendedKeyUsage"}, &out), 0);
  EXPECT_NE(out.find("TLS Web Server Authentication"), std::string::npos) << out;
}

TEST(Certs, ExistingFilesAreNotReplacedWithoutForce) {
  TempDir t;
  std::string d = t.path + "/tls";
  make_local_ca_and_server_cert({d, {"localhost"}, {}, false});
  std::string before = read_file(d + "/server.crt");
  EXPECT_THROW(make_local_ca_and_server_cert({d, {"localhost"}, {}, false}), CertError);
  EXPECT_EQ(read_file(d + "/server.crt"), before);
  make_local_ca_and_server_cert({d, {"localhost"}, {}, true});
  EXPECT_NE(read_file(d + "/server.crt"), before);
  EXPECT_THROW(make_local_ca_and_server_cert({t.path + "/x", {"localhost"}, {"not-an-ip"}, false}), CertError);
}

TEST(Certs, CliWritesTheFilesOnce) {
  TempDir t;
  std::string out;
  EXPECT_EQ(run_command({ccmux_bin(), "certs", "init", "--dir", t.path + "/tls", "--host", "localhost"}, &out), 0) << out;
  EXPECT_TRUE(std::filesystem::exists(t.path + "/tls/server.crt"));
  EXPECT_EQ(run_command({ccmux_bin(), "certs", "init", "--dir", t.path + "/tls"}, &out), 1);
  EXPECT_NE(out.find("use --force"), std::string::npos) << out;
}
