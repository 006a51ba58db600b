// hosts.yaml (core/cli/hosts.*): what a good file gives, every error with its file:line:col,
// and the token file's checks (a real file, its real mode and owner).
#include "config/config_schema.h"
#include "harness.h"
#include "hosts.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

using namespace ccmux;
using namespace ccmux::cli;
using namespace ccmux::test;

namespace {

// The error load_hosts gives for `yaml`, with the temp dir's path cut to "hosts.yaml"; "" when none.
std::string error_of(const std::string& yaml) {
  TempDir t;
  std::string path = t.path + "/hosts.yaml";
  write_file(path, yaml);
  try {
    load_hosts(path);
  } catch (const ConfigError& e) {
    std::string m = e.what();
    if (m.rfind(path, 0) == 0) m = "hosts.yaml" + m.substr(path.size());
    return m;
  }
  return "";
}

// A valid ws entry, with `extra` lines (each "    key: value") added.
std::string ws_entry(const std::string& name, const std::string& extra = "") {
  return "  - name: " + name + "\n    address: 127.0.0.1:8420\n    token_file: t.token\n" + extra;
}

struct EnvGuard {
  std::string name;
  std::string old;
  bool had;
  EnvGuard(const std::string& n, const std::string& v) : name(n) {
    const char* o = std::getenv(n.c_str());
    had = o != nullptr;
    if (had) old = o;
    setenv(n.c_str(), v.c_str(), 1);
  }
  ~EnvGuard() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

}  // namespace

TEST(Hosts, AGoodFileGivesEachMachineWithDefaultsAndExpandedPaths) {
  TempDir t;
  EnvGuard home("HOME", "/home/someone");
  write_file(t.path + "/hosts.yaml",
             "hosts:\n"
             "  - name: buildbox\n"
             "    address: 10.0.0.5:8420\n"
             "    ca: ~/.config/ccmux/buildbox-ca.crt\n"
             "    token_file: buildbox.token\n"
             "  - name: here\n"
             "    address: \"[::1]:9000\"\n"
             "    transport: grpc\n"
             "    cert: /etc/c.crt\n"
             "    key: /etc/c.key\n"
             "  - name: lan-box.2\n"
             "    address: localhost:1\n"
             "    tls: true\n"
             "    token_file: /abs/tok\n"
             "  - name: lo\n"
             "    address: 127.0.0.1:8420\n"
             "    timeout: 2.5\n"
             "    token_file: t\n");
  HostsFile f = load_hosts(t.path + "/hosts.yaml");
  ASSERT_EQ(f.hosts.size(), 4u);
  const Host& b = f.hosts[0];
  EXPECT_EQ(b.name, "buildbox");
  EXPECT_EQ(b.hostname, "10.0.0.5");
  EXPECT_EQ(b.port, 8420);
  EXPECT_EQ(b.transport, HostTransport::ws);  // the default
  EXPECT_TRUE(b.tls) << "not loopback: TLS by default";
  EXPECT_EQ(b.ca, "/home/someone/.config/ccmux/buildbox-ca.crt");
  EXPECT_EQ(b.token_file, t.path + "/buildbox.token") << "relative to the hosts file";
  EXPECT_EQ(b.token_file_where, t.path + "/hosts.yaml:5:17");
  EXPECT_EQ(b.where, t.path + "/hosts.yaml:2:5");
  const Host& h = f.hosts[1];
  EXPECT_EQ(h.hostname, "::1");
  EXPECT_EQ(h.port, 9000);
  EXPECT_EQ(h.transport, HostTransport::grpc);
  EXPECT_TRUE(h.tls) << "loopback, but a client certificate: mTLS is TLS";
  EXPECT_EQ(h.cert, "/etc/c.crt");
  EXPECT_EQ(h.key, "/etc/c.key");
  EXPECT_TRUE(f.hosts[2].tls) << "an explicit tls: true on loopback stays";
  EXPECT_FALSE(f.hosts[3].tls) << "loopback: plain by default";
  EXPECT_EQ(b.timeout_ms, 10000) << "the default";
  EXPECT_EQ(f.hosts[3].timeout_ms, 2500);
  EXPECT_EQ(f.find("here"), &f.hosts[1]);
  EXPECT_EQ(f.find("nope"), nullptr);
  EXPECT_EQ(f.names(), "buildbox, here, lan-box.2, lo");
}

TEST(Hosts, AnEmptyFileOrEmptyListHasNoMachines) {
  EXPECT_EQ(error_of(""), "");
  EXPECT_EQ(error_of("hosts:\n"), "");
  EXPECT_EQ(error_of("hosts: []\n"), "");
}

TEST(Hosts, AMissingFileIsAnErrorUnlessMissingIsAllowed) {
  TempDir t;
  EXPECT_THROW(load_hosts(t.path + "/none.yaml"), ConfigError);
  EXPECT_TRUE(load_hosts(t.path + "/none.yaml", true).hosts.empty());
}

TEST(Hosts, EveryErrorNamesItsFileLineAndColumn) {
  // Syntax: yaml-cpp's own message at its position.
  EXPECT_EQ(error_of("hosts: [\n"), "hosts.yaml:2:1: end of sequence flow not found");
  EXPECT_EQ(error_of("machines: []\n"), "hosts.yaml:1:1: key 'machines': unknown key (known: hosts)");
  EXPECT_EQ(error_of("- a\n"), "hosts.yaml:1:1: expected a map with a 'hosts' list");
  EXPECT_EQ(error_of("hosts: buildbox\n"), "hosts.yaml:1:8: key 'hosts': expected a list of hosts (- name: ..., address: ...)");
  EXPECT_EQ(error_of("hosts:\n  - buildbox\n"), "hosts.yaml:2:5: key 'hosts[0]': expected a map with at least 'name' and 'address'");
  // Unknown key, at the key.
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a", "    colour: red\n")),
            "hosts.yaml:5:5: key 'hosts.a.colour': unknown key (known: address, ca, cert, key, name, server_name, timeout, tls, token_file, transport)");
  // Wrong types, at the value.
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a", "    tls: maybe\n")),
            "hosts.yaml:5:10: key 'hosts.a.tls': expected true or false, got 'maybe'");
  EXPECT_EQ(error_of("hosts:\n  - name: a\n    address: [1, 2]\n"), "hosts.yaml:3:14: key 'hosts.a.address': expected a string");
  EXPECT_EQ(error_of("hosts:\n  - name: [a]\n    address: x:1\n"), "hosts.yaml:2:11: key 'hosts[0].name': expected a string");
  // Missing keys, at the entry (named by its place when it has no name).
  EXPECT_EQ(error_of("hosts:\n  - name: a\n    token_file: t\n"),
            "hosts.yaml:2:5: key 'hosts.a.address': missing required key (host:port of the machine's transport)");
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a") + "  - address: x:1\n    token_file: t\n"),
            "hosts.yaml:5:5: key 'hosts[1].name': missing required key (what --host calls this machine)");
  // Duplicate name, at the second one, saying where the first is.
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a") + ws_entry("b") + ws_entry("a")),
            "hosts.yaml:8:11: key 'hosts.a.name': duplicate name (first at line 2)");
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a", "    address: 10.0.0.1:1\n")), "hosts.yaml:5:5: key 'hosts.a.address': duplicate key");
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a", "    timeout: 0\n")), "hosts.yaml:5:14: key 'hosts.a.timeout': must be from 0.1 to 3600, got 0");
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a", "    timeout: 10s\n")),
            "hosts.yaml:5:14: key 'hosts.a.timeout': expected a non-negative number, got '10s'");
  // Bad transport, at the value.
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a", "    transport: http\n")),
            "hosts.yaml:5:16: key 'hosts.a.transport': bad value 'http' (expected one of: grpc, ws)");
  // Bad names.
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("a b")), "hosts.yaml:2:11: key 'hosts[0].name': bad name 'a b' (1-64 of letters, digits, '-', '_', '.')");
  EXPECT_EQ(error_of("hosts:\n" + ws_entry("local")),
            "hosts.yaml:2:11: key 'hosts.local.name': 'local' is reserved for this machine's own ccmuxd");
}

TEST(Hosts, AnAddressMustBeHostColonPort) {
  for (std::string bad : {"10.0.0.5", "10.0.0.5:", ":8420", "box:0", "box:65536", "box:84x", "::1:8420", "[::1]8420",
                          "[::1]", "box:123456"}) {
    EXPECT_EQ(error_of("hosts:\n  - name: a\n    address: \"" + bad + "\"\n    token_file: t\n"),
              "hosts.yaml:3:14: key 'hosts.a.address': expected host:port with a port from 1 to 65535 (e.g. 10.0.0.5:8420, "
              "[::1]:8420), got '" + bad + "'")
        << bad;
  }
  EXPECT_EQ(error_of("hosts:\n  - name: a\n    address: box.lan:65535\n    token_file: t\n"), "");
}

TEST(Hosts, CredentialsTheTransportCannotUseAreErrors) {
  auto entry = [](const std::string& lines) { return "hosts:\n  - name: a\n    address: 10.0.0.5:8420\n" + lines; };
  EXPECT_EQ(error_of(entry("    transport: ws\n")),
            "hosts.yaml:2:5: key 'hosts.a.token_file': missing required key (transport ws logs in with a token: "
            "`ccmux token create NAME` on that machine, saved in a 0600 file)");
  EXPECT_EQ(error_of(entry("    token_file: t\n    cert: c.crt\n    key: c.key\n")),
            "hosts.yaml:5:11: key 'hosts.a.cert': client certificates are for transport grpc (mTLS); transport ws logs in with "
            "token_file");
  EXPECT_EQ(error_of(entry("    transport: grpc\n    cert: c.crt\n")),
            "hosts.yaml:5:11: key 'hosts.a.cert': cert and key go together (a client certificate and its private key)");
  EXPECT_EQ(error_of(entry("    transport: grpc\n    key: c.key\n")),
            "hosts.yaml:5:10: key 'hosts.a.key': cert and key go together (a client certificate and its private key)");
  EXPECT_EQ(error_of(entry("    transport: grpc\n")),
            "hosts.yaml:2:5: key 'hosts.a.cert': transport grpc needs a client certificate (cert + key, mTLS) or a token_file");
  EXPECT_EQ(error_of(entry("    token_file: t\n    tls: false\n    ca: ca.crt\n")),
            "hosts.yaml:6:9: key 'hosts.a.ca': a CA verifies a TLS server, but tls is false for this host");
  EXPECT_EQ(error_of(entry("    transport: grpc\n    tls: false\n    cert: c\n    key: k\n")),
            "hosts.yaml:6:11: key 'hosts.a.cert': a client certificate needs TLS, but tls is false for this host");
  EXPECT_EQ(error_of(entry("    token_file: \"\"\n")), "hosts.yaml:4:17: key 'hosts.a.token_file': is empty");
  EXPECT_EQ(error_of(entry("    transport: grpc\n    token_file: t\n")), "") << "grpc with a token (Bearer over TLS)";
}

TEST(Hosts, LoopbackAddresses) {
  for (auto h : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) EXPECT_TRUE(is_loopback(h)) << h;
  for (auto h : {"10.0.0.5", "128.0.0.1", "::2", "box.lan", "localhost.evil.com", "0.0.0.0"}) EXPECT_FALSE(is_loopback(h)) << h;
}

TEST(Hosts, TheDefaultPathFollowsXdgConfigHome) {
  {
    EnvGuard x("XDG_CONFIG_HOME", "/x/cfg");
    EXPECT_EQ(default_hosts_path(), "/x/cfg/ccmux/hosts.yaml");
  }
  EnvGuard x("XDG_CONFIG_HOME", "");
  EnvGuard h("HOME", "/home/u");
  EXPECT_EQ(default_hosts_path(), "/home/u/.config/ccmux/hosts.yaml");
}

class TokenFile : public ::testing::Test {
 protected:
  // A host whose token_file is `name` in the temp dir, written with `text` and `mode`.
  Host host_with(const std::string& text, mode_t mode, const std::string& name = "a.token") {
    std::string p = t.path + "/" + name;
    write_file(p, text);
    chmod(p.c_str(), mode);
    write_file(t.path + "/hosts.yaml", "hosts:\n  - name: a\n    address: 10.0.0.5:8420\n    token_file: " + name + "\n");
    return load_hosts(t.path + "/hosts.yaml").hosts.at(0);
  }
  // read_token_file's error, the temp dir's path cut to "D"; "" when it read the token.
  std::string refusal(const Host& h) {
    try {
      read_token_file(h);
    } catch (const ConfigError& e) {
      std::string m = e.what();
      for (size_t at; (at = m.find(t.path)) != std::string::npos;) m.replace(at, t.path.size(), "D");
      return m;
    }
    return "";
  }
  TempDir t;
};

TEST_F(TokenFile, A0600FileGivesItsTokenTrimmed) {
  Host h = host_with("ccmux_abc123\n", 0600);
  EXPECT_EQ(read_token_file(h), "ccmux_abc123");
  EXPECT_EQ(read_token_file(host_with("  ccmux_x \r\n\n", 0400)), "ccmux_x") << "read-only for the owner is fine";
}

TEST_F(TokenFile, GroupOrOtherAccessIsRefusedWithWhereHostsYamlNamedIt) {
  EXPECT_EQ(refusal(host_with("ccmux_abc\n", 0644)),
            "D/hosts.yaml:4:17: key 'hosts.a.token_file': D/a.token is open to group or others (mode 0644); a token file "
            "must be 0600: chmod 600 D/a.token");
  for (mode_t m : {0640, 0604, 0620, 0602, 0660})
    EXPECT_NE(refusal(host_with("ccmux_abc\n", m)).find("is open to group or others"), std::string::npos) << std::oct << m;
}

TEST_F(TokenFile, MissingEmptyOddOrForeignFilesAreRefused) {
  Host h = host_with("x", 0600);
  std::filesystem::remove(h.token_file);
  EXPECT_EQ(refusal(h), "D/hosts.yaml:4:17: key 'hosts.a.token_file': cannot read D/a.token: No such file or directory");
  EXPECT_EQ(refusal(host_with("\n \n", 0600)),
            "D/hosts.yaml:4:17: key 'hosts.a.token_file': D/a.token is empty (put the token from `ccmux token create NAME` in it)");
  EXPECT_EQ(refusal(host_with("ccmux_a\nccmux_b\n", 0600)),
            "D/hosts.yaml:4:17: key 'hosts.a.token_file': D/a.token holds more than one line or word");
  EXPECT_EQ(refusal(host_with(std::string(5000, 'x'), 0600)),
            "D/hosts.yaml:4:17: key 'hosts.a.token_file': D/a.token is over 4 KiB: not a token from `ccmux token create`");
  Host dir = host_with("x", 0600, "d.token");
  std::filesystem::remove(dir.token_file);
  std::filesystem::create_directory(dir.token_file);
  chmod(dir.token_file.c_str(), 0700);
  EXPECT_EQ(refusal(dir), "D/hosts.yaml:4:17: key 'hosts.a.token_file': D/d.token is not a regular file");
  if (geteuid() == 0) {  // only root can give a file away
    Host theirs = host_with("ccmux_abc\n", 0600, "theirs.token");
    ASSERT_EQ(chown(theirs.token_file.c_str(), 4242, 4242), 0);
    EXPECT_EQ(refusal(theirs), "D/hosts.yaml:4:17: key 'hosts.a.token_file': D/theirs.token belongs to another user (uid 4242)");
  }
}
