#include "hosts.h"

#include "config/config_schema.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace ccmux::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

SectionSchema entry_schema(const std::string& path) {
  SectionSchema s;
  s.path = path;
  auto key = [](std::string name, ValueType t, std::string help = "") {
    KeySchema k;
    k.name = std::move(name);
    k.type = t;
    k.help = std::move(help);
    return k;
  };
  KeySchema name = key("name", ValueType::string, "what --host calls this machine");
  name.required = true;
  KeySchema address = key("address", ValueType::string, "host:port of the machine's transport");
  address.required = true;
  KeySchema transport = key("transport", ValueType::string);
  transport.choices = {"grpc", "ws"};
  transport.default_yaml = "ws";
  KeySchema timeout = key("timeout", ValueType::number);
  timeout.min = 0.1;
  timeout.max = 3600;
  timeout.default_yaml = "10";
  s.keys = {name,
            address,
            transport,
            key("tls", ValueType::boolean),
            key("ca", ValueType::string),
            key("cert", ValueType::string),
            key("key", ValueType::string),
            key("token_file", ValueType::string),
            timeout};
  return s;
}

std::string where(const std::string& file, const YAML::Mark& m) {
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// "host:port" or "[v6]:port"; false when it is neither.
bool split_address(const std::string& a, std::string& host, int& port) {
  size_t colon;
  if (!a.empty() && a[0] == '[') {
    size_t close = a.find(']');
    if (close == std::string::npos || close + 1 >= a.size() || a[close + 1] != ':') return false;
    host = a.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = a.rfind(':');
    if (colon == std::string::npos || a.find(':') != colon) return false;  // a bare IPv6 needs brackets
    host = a.substr(0, colon);
  }
  std::string p = a.substr(colon + 1);
  if (host.empty() || p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  port = std::stoi(p);
  return port >= 1 && port <= 65535;
}

bool good_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string expand(const std::string& p, const std::string& base_dir) {
  if (p.empty()) return p;
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "") + p.substr(1);
  }
  if (p[0] == '/') return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// The value node of `key` in an entry (for marks); an undefined node when absent.
YAML::Node value_of(const YAML::Node& entry, const std::string& key) {
  for (const auto& kv : entry)
    if (kv.first.Scalar() == key) return kv.second;
  return YAML::Node(YAML::NodeType::Undefined);
}

Host read_entry(const YAML::Node& entry, size_t index, const std::string& file) {
  std::string path = "hosts[" + std::to_string(index) + "]";
  if (!entry.IsMap()) config_fail(file, entry.Mark(), path, "expected a map with at least 'name' and 'address'");
  // Messages name the entry by its name once it has a usable one.
  YAML::Node name_node = value_of(entry, "name");
  if (name_node.IsDefined() && name_node.IsScalar() && good_name(name_node.Scalar())) path = "hosts." + name_node.Scalar();
  std::map<std::string, int> keys_seen;  // yaml-cpp keeps both of a repeated key: the second would win silently
  for (const auto& kv : entry)
    if (++keys_seen[kv.first.Scalar()] == 2) config_fail(file, kv.first.Mark(), path + "." + kv.first.Scalar(), "duplicate key");
  json v = validate_section(entry_schema(path), entry, file);

  Host h;
  h.name = v["name"];
  if (!good_name(h.name))
    config_fail(file, name_node.Mark(), path + ".name", "bad name '" + h.name + "' (1-64 of letters, digits, '-', '_', '.')");
  if (h.name == "local")
    config_fail(file, name_node.Mark(), path + ".name", "'local' is reserved for this machine's own ccmuxd");
  h.address = v["address"];
  if (!split_address(h.address, h.hostname, h.port))
    config_fail(file, value_of(entry, "address").Mark(), path + ".address",
                "expected host:port with a port from 1 to 65535 (e.g. 10.0.0.5:8420, [::1]:8420), got '" + h.address + "'");
  h.transport = v["transport"] == "grpc" ? HostTransport::grpc : HostTransport::ws;
  h.timeout_ms = static_cast<int>(v["timeout"].get<double>() * 1000);
  std::string dir = fs::path(file).parent_path().string();
  for (auto [field, out] : {std::pair{"ca", &h.ca}, std::pair{"cert", &h.cert}, std::pair{"key", &h.key},
                            std::pair{"token_file", &h.token_file}}) {
    if (!v.contains(field)) continue;
    *out = expand(v[field], dir);
    if (out->empty()) config_fail(file, value_of(entry, field).Mark(), path + "." + field, "is empty");
  }
  // Plain text only where nothing leaves the machine, and never with a client certificate (mTLS is TLS).
  h.tls = v.contains("tls") ? v["tls"].get<bool>() : !is_loopback(h.hostname) || !h.cert.empty();
  h.where = where(file, entry.Mark());
  if (!h.token_file.empty()) h.token_file_where = where(file, value_of(entry, "token_file").Mark());

  // Credentials the transport can use (checked here, not at the first connection).
  auto fail_at = [&](const std::string& field, const std::string& what) {
    YAML::Node n = value_of(entry, field);
    config_fail(file, n.IsDefined() ? n.Mark() : entry.Mark(), path + "." + field, what);
  };
  if (h.cert.empty() != h.key.empty())
    fail_at(h.cert.empty() ? "key" : "cert", "cert and key go together (a client certificate and its private key)");
  if (!h.ca.empty() && !h.tls) fail_at("ca", "a CA verifies a TLS server, but tls is false for this host");
  if (h.transport == HostTransport::ws) {
    if (!h.cert.empty()) fail_at("cert", "client certificates are for transport grpc (mTLS); transport ws logs in with token_file");
    if (h.token_file.empty())
      fail_at("token_file",
              "missing required key (transport ws logs in with a token: `ccmux token create NAME` on that machine, "
              "saved in a 0600 file)");
  } else {
    if (h.cert.empty() && h.token_file.empty())
      fail_at("cert", "transport grpc needs a client certificate (cert + key, mTLS) or a token_file");
    if (!h.cert.empty() && !h.tls) fail_at("cert", "a client certificate needs TLS, but tls is false for this host");
  }
  return h;
}

}  // namespace

const Host* HostsFile::find(const std::string& name) const {
  for (auto& h : hosts)
    if (h.name == name) return &h;
  return nullptr;
}

std::string HostsFile::names() const {
  std::string out;
  for (auto& h : hosts) out += (out.empty() ? "" : ", ") + h.name;
  return out;
}

std::string default_hosts_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/ccmux/hosts.yaml";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/ccmux/hosts.yaml";
}

bool is_loopback(const std::string& h) {
  if (h == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  return inet_pton(AF_INET6, h.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

HostsFile load_hosts(const std::string& path, bool missing_ok) {
  HostsFile out;
  out.path = path;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (missing_ok) return out;
    throw ConfigError("no hosts file " + path + " (see hosts.yaml in the README: a list of name, address, transport, token_file)");
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError(path + ":0:0: cannot read the file");
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) return out;
  if (!root.IsMap()) config_fail(path, root.Mark(), "", "expected a map with a 'hosts' list");
  YAML::Node list(YAML::NodeType::Undefined);
  for (const auto& kv : root) {
    if (kv.first.Scalar() != "hosts") config_fail(path, kv.first.Mark(), kv.first.Scalar(), "unknown key (known: hosts)");
    list.reset(kv.second);
  }
  if (!list.IsDefined() || list.IsNull()) return out;
  if (!list.IsSequence()) config_fail(path, list.Mark(), "hosts", "expected a list of hosts (- name: ..., address: ...)");
  std::map<std::string, YAML::Mark> seen;
  size_t i = 0;
  for (const auto& entry : list) {
    Host h = read_entry(entry, i++, path);
    if (auto it = seen.find(h.name); it != seen.end())
      config_fail(path, value_of(entry, "name").Mark(), "hosts." + h.name + ".name",
                  "duplicate name (first at line " + std::to_string(it->second.line + 1) + ")");
    seen.emplace(h.name, value_of(entry, "name").Mark());
    out.hosts.push_back(std::move(h));
  }
  return out;
}

std::string read_token_file(const Host& h) {
  auto fail = [&](const std::string& what) {
    throw ConfigError(h.token_file_where + ": key 'hosts." + h.name + ".token_file': " + what);
  };
  struct stat st {};
  if (::stat(h.token_file.c_str(), &st) != 0) fail("cannot read " + h.token_file + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(h.token_file + " is not a regular file");
  if (st.st_uid != geteuid()) fail(h.token_file + " belongs to another user (uid " + std::to_string(st.st_uid) + ")");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail(h.token_file + " is open to group or others (mode " + mode + "); a token file must be 0600: chmod 600 " +
         h.token_file);
  }
  std::ifstream f(h.token_file, std::ios::binary);
  if (!f) fail("cannot read " + h.token_file + ": " + std::strerror(errno));
  std::string text(4097, '\0');
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(f.gcount()));
  if (text.size() > 4096) fail(h.token_file + " is over 4 KiB: not a token from `ccmux token create`");
  size_t b = text.find_first_not_of(" \t\r\n"), e = text.find_last_not_of(" \t\r\n");
  std::string token = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  if (token.empty()) fail(h.token_file + " is empty (put the token from `ccmux token create NAME` in it)");
  if (token.find_first_of(" \t\r\n") != std::string::npos) fail(h.token_file + " holds more than one line or word");
  return token;
}

}  // namespace ccmux::cli
