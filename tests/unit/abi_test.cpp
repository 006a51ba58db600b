// The plugin ABI header is frozen: changing it needs a version bump, a new
// fingerprint and a refreshed tests/abi/plugin_abi.h.frozen, all in one change.
#include "harness.h"

#include <ccmux/plugin_abi.h>

#include <gtest/gtest.h>

#include <regex>

using namespace ccmux::test;

namespace {
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}
std::string header() { return read_file(source_dir() + "/sdk/include/ccmux/plugin_abi.h"); }
}  // namespace

TEST(Abi, FingerprintMatchesHeaderText) {
  std::string text = std::regex_replace(header(), std::regex("#define CCMUX_ABI_FINGERPRINT 0x[0-9A-Fa-f]+ULL"),
                                        "#define CCMUX_ABI_FINGERPRINT 0x0ULL");
  EXPECT_EQ(fnv1a(text), CCMUX_ABI_FINGERPRINT)
      << "plugin_abi.h changed but CCMUX_ABI_FINGERPRINT did not: recompute it (FNV-1a 64 of the header with the "
         "fingerprint set to 0x0ULL) and bump CCMUX_SDK_VERSION_MINOR (or MAJOR for an incompatible change)";
}

TEST(Abi, HeaderEqualsFrozenCopyOrVersionWasBumped) {
  std::string frozen = read_file(source_dir() + "/tests/abi/plugin_abi.h.frozen");
  ASSERT_FALSE(frozen.empty());
  if (frozen == header()) return;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(frozen, m, std::regex("CCMUX_SDK_VERSION_MINOR (\\d+)")));
  int frozen_minor = std::stoi(m[1]);
  ASSERT_TRUE(std::regex_search(frozen, m, std::regex("CCMUX_SDK_VERSION_MAJOR (\\d+)")));
  int frozen_major = std::stoi(m[1]);
  FAIL() << "sdk/include/ccmux/plugin_abi.h differs from tests/abi/plugin_abi.h.frozen (SDK " << frozen_major << "."
         << frozen_minor << "). If the change is intended: bump the SDK version (now " << CCMUX_SDK_VERSION_MAJOR << "."
         << CCMUX_SDK_VERSION_MINOR << "), update the fingerprint, and copy the header over the frozen file.";
}

TEST(Abi, StructsStartWithTheirSize) {
  EXPECT_EQ(offsetof(ccmux_host_api, struct_size), 0u);
  EXPECT_EQ(offsetof(ccmux_plugin_descriptor, struct_size), 0u);
  EXPECT_EQ(offsetof(ccmux_event, struct_size), 0u);
  EXPECT_EQ(offsetof(ccmux_config_spec, struct_size), 0u);
}

TEST(Abi, TheSdk13CopyIsTheReleased13Header) {
  // tests/plugins/v13_plugin.c is built against it to prove 1.3 binaries still load.
  std::string v13 = read_file(source_dir() + "/tests/abi/plugin_abi_1_3.h");
  EXPECT_NE(v13.find("#define CCMUX_SDK_VERSION_MINOR 3\n"), std::string::npos);
  // Unedited: its text still hashes to the fingerprint 1.3 shipped with.
  std::string zeroed = std::regex_replace(v13, std::regex("#define CCMUX_ABI_FINGERPRINT 0x[0-9A-Fa-f]+ULL"),
                                          "#define CCMUX_ABI_FINGERPRINT 0x0ULL");
  EXPECT_EQ(fnv1a(zeroed), 0xf69e6595484f0b3dULL);
}

TEST(Abi, TheSdk15CopyIsTheReleased15Header) {
  std::string v15 = read_file(source_dir() + "/tests/abi/plugin_abi_1_5.h");
  EXPECT_NE(v15.find("#define CCMUX_SDK_VERSION_MINOR 5\n"), std::string::npos);
  std::string zeroed = std::regex_replace(v15, std::regex("#define CCMUX_ABI_FINGERPRINT 0x[0-9A-Fa-f]+ULL"),
                                          "#define CCMUX_ABI_FINGERPRINT 0x0ULL");
  EXPECT_EQ(fnv1a(zeroed), 0xbb9c32b721a20860ULL);
}

TEST(Abi, TheSdk14CopyIsTheReleased14Header) {
  std::string v14 = read_file(source_dir() + "/tests/abi/plugin_abi_1_4.h");
  EXPECT_NE(v14.find("#define CCMUX_SDK_VERSION_MINOR 4\n"), std::string::npos);
  std::string zeroed = std::regex_replace(v14, std::regex("#define CCMUX_ABI_FINGERPRINT 0x[0-9A-Fa-f]+ULL"),
                                          "#define CCMUX_ABI_FINGERPRINT 0x0ULL");
  EXPECT_EQ(fnv1a(zeroed), 0xae9542a776b202d9ULL);
}

namespace {
// The text of `typedef struct NAME { … }` up to (not including) its closing brace.
std::string struct_body(const std::string& header, const std::string& name) {
  size_t from = header.find("typedef struct " + name + " {");
  size_t to = header.find("} " + name + ";", from);
  return from == std::string::npos || to == std::string::npos ? "" : header.substr(from, to - from);
}
}  // namespace

TEST(Abi, Sdk15OnlyAppendsToTheHostTable) {
  // A 1.4 plugin reads the table through its own, shorter declaration: every 1.4 field must be
  // where it was, word for word, and the 1.5 functions after the last of them.
  std::string v14 = struct_body(read_file(source_dir() + "/tests/abi/plugin_abi_1_4.h"), "ccmux_host_api");
  std::string now = struct_body(header(), "ccmux_host_api");
  ASSERT_FALSE(v14.empty());
  EXPECT_EQ(now.rfind(v14, 0), 0u) << "the SDK 1.4 host table is not a prefix of the current one";
  EXPECT_NE(now.find("SDK 1.5", v14.size()), std::string::npos);
  EXPECT_EQ(offsetof(ccmux_host_api, authenticate_certificate), offsetof(ccmux_host_api, timer_cancel) + sizeof(void*));
  EXPECT_EQ(offsetof(ccmux_host_api, register_certificate_revocation_listener),
            offsetof(ccmux_host_api, authenticate_certificate) + sizeof(void*));
  // The plugin's descriptor did not change in 1.5.
  EXPECT_EQ(struct_body(read_file(source_dir() + "/tests/abi/plugin_abi_1_4.h"), "ccmux_plugin_descriptor"),
            struct_body(header(), "ccmux_plugin_descriptor"));
}

TEST(Abi, Sdk16OnlyAppendsToTheHostTable) {
  // A 1.5 plugin reads the table through its own, shorter declaration: every 1.5 field where it
  // was, word for word, and the 1.6 functions after the last of them, in the order declared.
  std::string v15 = struct_body(read_file(source_dir() + "/tests/abi/plugin_abi_1_5.h"), "ccmux_host_api");
  std::string now = struct_body(header(), "ccmux_host_api");
  ASSERT_FALSE(v15.empty());
  EXPECT_EQ(now.rfind(v15, 0), 0u) << "the SDK 1.5 host table is not a prefix of the current one";
  EXPECT_NE(now.find("SDK 1.6", v15.size()), std::string::npos);
  size_t last15 = offsetof(ccmux_host_api, register_certificate_revocation_listener);
  EXPECT_EQ(offsetof(ccmux_host_api, register_async_method), last15 + sizeof(void*));
  EXPECT_EQ(offsetof(ccmux_host_api, call_respond), last15 + 2 * sizeof(void*));
  EXPECT_EQ(offsetof(ccmux_host_api, register_router), last15 + 3 * sizeof(void*));
  EXPECT_EQ(offsetof(ccmux_host_api, client_push), last15 + 4 * sizeof(void*));
  EXPECT_EQ(offsetof(ccmux_host_api, set_remote_approvals), last15 + 5 * sizeof(void*));
  EXPECT_EQ(sizeof(ccmux_host_api), offsetof(ccmux_host_api, set_remote_approvals) + sizeof(void*));
  // The plugin's descriptor did not change in 1.6.
  EXPECT_EQ(struct_body(read_file(source_dir() + "/tests/abi/plugin_abi_1_5.h"), "ccmux_plugin_descriptor"),
            struct_body(header(), "ccmux_plugin_descriptor"));
}
