// hosts.yaml: the other machines `ccmux --host NAME` and `ccmux ls --all-hosts` reach, each
// with its address, transport (ws | grpc) and credentials. Parsed with yaml-cpp and checked
// with core/config's schema validator, so every error reads "file:line:col: key '…': what".
#pragma once

#include <string>
#include <vector>

namespace ccmux::cli {

enum class HostTransport { ws, grpc };

struct Host {
  std::string name;
  std::string address;  // as written: "10.0.0.5:8420", "[::1]:8420"
  std::string hostname;  // "10.0.0.5", "::1" (no brackets)
  int port = 0;
  HostTransport transport = HostTransport::ws;
  bool tls = true;  // ws: wss; grpc: TLS. Default: true unless the address is loopback (and no cert)
  // Paths with "~/" expanded and relative ones taken from the hosts file's folder; "" = absent.
  std::string ca, cert, key, token_file;
  int timeout_ms = 10000;  // `timeout` (s): for each step that waits on the machine (connect, login, hello)
  // "file:line:col" of the entry and of its token_file value, for messages about them later.
  std::string where, token_file_where;
};

struct HostsFile {
  std::string path;
  std::vector<Host> hosts;
  const Host* find(const std::string& name) const;
  std::string names() const;  // "a, b" (for "unknown host" messages)
};

// $XDG_CONFIG_HOME/ccmux/hosts.yaml, else ~/.config/ccmux/hosts.yaml.
std::string default_hosts_path();
// Reads and checks `path`. A missing file is an empty list when `missing_ok`. Throws
// ConfigError ("file:line:col: …"): unknown key, wrong type, duplicate or bad name, missing or
// bad address, bad transport, credentials the transport cannot use.
HostsFile load_hosts(const std::string& path, bool missing_ok = false);
// The token in `host.token_file`, trimmed. Refused (ConfigError naming the file and where
// hosts.yaml set it) unless it is a regular file of ours that group and others cannot read
// or write (0600), and holds one non-empty line of at most 4 KiB.
std::string read_token_file(const Host& host);
// 127.0.0.0/8, ::1 and "localhost": the only addresses where TLS defaults to off.
bool is_loopback(const std::string& hostname);

}  // namespace ccmux::cli
