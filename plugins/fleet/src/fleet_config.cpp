#include "fleet_config.h"

#include "wire.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace ccmux::fleet {

using nlohmann::json;

bool loopback_url(const std::string& url) {
  auto scheme = url.find("://");
  std::string rest = scheme == std::string::npos ? url : url.substr(scheme + 3);
  auto at = rest.rfind('@');  // nats://user:pass@host
  if (at != std::string::npos) rest = rest.substr(at + 1);
  for (const char* host : {"127.0.0.1", "localhost", "[::1]"}) {
    std::string h = host;
    if (rest == h || rest.rfind(h + ":", 0) == 0) return true;
  }
  return false;
}

void load_credentials(const std::string& path, const std::string& nkey_public, LinkOptions& link) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error("credentials_file " + path + " cannot be read");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error("credentials_file " + path + " is open to others (mode " + mode + "): chmod 600 " + path);
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!in && !in.eof()) throw std::runtime_error("credentials_file " + path + " cannot be read");
  if (text.find("-----BEGIN NATS USER JWT-----") != std::string::npos) {
    link.creds_file = path;
    return;
  }
  std::string first = text.substr(0, text.find('\n'));
  while (!first.empty() && (first.back() == '\r' || first.back() == ' ')) first.pop_back();
  if (first.rfind("SU", 0) == 0) {
    if (nkey_public.empty()) throw std::runtime_error("credentials_file " + path + " holds an NKey seed: set `nkey` to its public key (U…)");
    link.nkey_public = nkey_public;
    link.nkey_seed_file = path;
    return;
  }
  auto colon = first.find(':');
  if (colon == std::string::npos || colon == 0)
    throw std::runtime_error("credentials_file " + path + ": expected user:password on the first line, an NKey seed or a .creds file");
  link.user = first.substr(0, colon);
  link.password = first.substr(colon + 1);
}

FleetConfig parse_fleet_config(std::string_view config_json) {
  json cfg = json::parse(config_json);
  FleetConfig c;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  c.machine = cfg.value("machine", std::string());
  if (c.machine.empty()) c.machine = std::string(host).substr(0, std::string(host).find('.'));  // a FQDN's first label
  if (!valid_machine_name(c.machine))
    throw std::runtime_error("machine '" + c.machine + "': a machine name is 1-64 letters, digits, '-' or '_'");
  c.fleet = cfg.value("fleet", std::string("default"));
  if (!valid_machine_name(c.fleet)) throw std::runtime_error("fleet '" + c.fleet + "': 1-64 letters, digits, '-' or '_'");
  for (auto& s : cfg.at("servers")) c.link.servers.push_back(s.get<std::string>());
  if (c.link.servers.empty()) throw std::runtime_error("servers: at least one NATS URL (nats://host:4222)");
  c.link.name = "ccmuxd " + c.machine;
  c.link.inbox_scope = c.machine;
  c.link.tls_ca = cfg.value("tls_ca", std::string());
  c.link.tls_cert = cfg.value("tls_cert", std::string());
  c.link.tls_key = cfg.value("tls_key", std::string());
  if (c.link.tls_cert.empty() != c.link.tls_key.empty()) throw std::runtime_error("tls_cert and tls_key go together");
  bool tls_url = false;
  for (auto& s : c.link.servers) tls_url = tls_url || s.rfind("tls://", 0) == 0;
  c.link.tls = tls_url || !c.link.tls_ca.empty();
  bool insecure = cfg.value("insecure", false);
  if (!c.link.tls && !insecure)
    for (auto& s : c.link.servers)
      if (!loopback_url(s))
        throw std::runtime_error("servers: " + s + " is not on this machine and has no TLS: set tls_ca (or use tls://), or insecure: true");
  for (auto& s : c.link.servers)
    if (s.find('@') != std::string::npos)
      throw std::runtime_error("servers: put credentials in credentials_file, not in the URL");
  std::string creds = cfg.value("credentials_file", std::string());
  if (!creds.empty()) load_credentials(creds, cfg.value("nkey", std::string()), c.link);
  c.heartbeat_ms = cfg.value("heartbeat_ms", 2000);
  c.down_after_ms = cfg.value("down_after_ms", 6000);
  if (c.down_after_ms < 2 * c.heartbeat_ms)
    throw std::runtime_error("down_after_ms must be at least twice heartbeat_ms (one lost heartbeat is not a machine down)");
  c.request_timeout_ms = cfg.value("request_timeout_ms", 30000);
  c.window_bytes = cfg.value("window_bytes", int64_t(4) << 20);
  return c;
}

}  // namespace ccmux::fleet
