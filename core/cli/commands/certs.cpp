// `ccmux certs init`: a local CA and a server certificate signed by it, for remote transports.
// `ccmux certs issue|list|revoke`: device (client) certificates signed by that CA, kept by ccmuxd.
#include "certs.h"
#include "client_cert_files.h"
#include "commands.h"
#include "paths.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <iomanip>
#include <iostream>
#include <unistd.h>

namespace ccmux::cli {

using nlohmann::json;

namespace {

int certs_init(CertRequest req) {
  if (req.dir.empty()) req.dir = std::filesystem::path(default_config_path()).parent_path().string() + "/tls";
  if (req.dns_names.empty()) {
    req.dns_names = {"localhost"};
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0 && std::string(host) != "localhost") req.dns_names.push_back(host);
  }
  if (req.ips.empty()) req.ips = {"127.0.0.1", "::1"};
  try {
    make_local_ca_and_server_cert(req);
  } catch (const CertError& e) {
    std::cerr << "ccmux certs init: " << e.what() << "\n";
    return 1;
  }
  std::cout << "wrote " << req.dir << "/{ca.crt, ca.key, server.crt, server.key}\n"
            << "install ca.crt on your phone/browser to trust the server certificate\n";
  return 0;
}

std::string date(int64_t ms) {
  if (!ms) return "-";
  time_t s = static_cast<time_t>(ms / 1000);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", localtime(&s));
  return buf;
}

struct IssueOptions {
  std::string name;
  int days = 825;
  std::string out;
  std::string p12_password;
  std::string p12_password_file;
  bool force = false;
};

// --p12-password-file: the password stays out of argv (which `ps` shows to every user).
// "-" reads it from stdin. The first line, without its line ending.
std::optional<std::string> read_p12_password_file(const std::string& path) {
  std::string line;
  if (path == "-") {
    if (!std::getline(std::cin, line)) return std::nullopt;
  } else {
    std::ifstream in(path);
    if (!in || !std::getline(in, line)) return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return std::nullopt;
  return line;
}

int certs_issue(const Context& ctx, IssueOptions o) {
  if (!o.p12_password_file.empty()) {
    auto pw = read_p12_password_file(o.p12_password_file);
    if (!pw) {
      std::cerr << "ccmux certs issue: no password in " << (o.p12_password_file == "-" ? "stdin" : o.p12_password_file)
                << " (its first line is the password)\n";
      return 1;
    }
    o.p12_password = *pw;
  }
  auto c = ctx.connect();
  std::string dir = o.out;
  // The default folder is under the daemon's CA folder: ask for it before anything is issued,
  // so files in the way stop us before the daemon records a certificate nobody can use.
  if (dir.empty()) dir = c->request("cert.list").value("ca_dir", "") + "/clients/" + o.name;
  try {
    check_client_cert_paths(dir, o.name, o.force);
  } catch (const CertFilesError& e) {
    std::cerr << "ccmux certs issue: " << e.what() << "\n";
    return 1;
  }
  json r = c->request("cert.issue", {{"name", o.name}, {"days", o.days}});
  ClientCertFiles f{dir, o.name, r.value("cert_pem", ""), r.value("key_pem", ""), r.value("ca_pem", ""), o.p12_password,
                    o.force};
  if (f.p12_password.empty()) f.p12_password = random_p12_password();
  std::vector<std::string> paths;
  try {
    paths = write_client_cert_files(f);
  } catch (const CertFilesError& e) {
    // The key exists nowhere else: a certificate without its files is revoked at once.
    c->request("cert.revoke", {{"name", o.name}});
    std::cerr << "ccmux certs issue: " << e.what() << " (certificate '" << o.name << "' revoked again)\n";
    return 1;
  }
  std::cout << "issued '" << o.name << "' (serial " << r.value("serial", "") << ", expires "
            << date(r.value("not_after_ms", int64_t{0})) << ")\nfingerprint (SHA-256) " << r.value("fingerprint", "")
            << "\nwrote:\n";
  for (auto& p : paths) std::cout << "  " << p << "\n";
  if (o.p12_password.empty())
    std::cout << "PKCS#12 password (shown only now): " << f.p12_password << "\n";
  std::cout << "the key exists only in these files: copy " << o.name << ".p12 (or .crt + .key) to the device\n";
  return 0;
}

int certs_list(const Context& ctx) {
  json r = ctx.connect()->request("cert.list");
  if (r["certs"].empty()) {
    std::cout << "no client certificates\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "SERIAL", "EXPIRES", "LAST USE", "REVOKED"}};
  for (auto& c : r["certs"])
    rows.push_back({c.value("name", ""), c.value("serial", ""), date(c.value("not_after_ms", int64_t{0})),
                    c.value("last_used_ms", int64_t{0}) ? date(c.value("last_used_ms", int64_t{0})) : "never",
                    date(c.value("revoked_ms", int64_t{0}))});
  std::vector<size_t> width(rows[0].size(), 0);
  for (auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i)
      std::cout << (i + 1 < row.size() ? std::string(row[i]) + std::string(width[i] - row[i].size() + 2, ' ') : row[i]);
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_cert_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto req = std::make_shared<CertRequest>();
  auto* certs = c.group("certs", "TLS certificates for remote transports");
  c.local_only(certs, "certificates are made on the machine that serves them; run it there");
  auto* init = c.add(certs, "init", "make a local CA and a server certificate signed by it (mbedTLS)",
                     [req] { return certs_init(*req); });
  init->add_option("--dir", req->dir, "output folder (default: tls/ beside the config file)");
  init->add_option("--host", req->dns_names, "DNS name for the certificate (repeatable; default: localhost and this host)");
  init->add_option("--ip", req->ips, "IP address for the certificate (repeatable; default: 127.0.0.1 and ::1)");
  init->add_flag("--force", req->force, "replace existing files");

  auto io = std::make_shared<IssueOptions>();
  auto* issue = c.add(certs, "issue", "issue a client certificate for a device, signed by the machine's CA",
                      [io, &ctx] { return certs_issue(ctx, *io); });
  issue->add_option("name", io->name, "the device's name (1-64 of letters, digits, -_.)")->required();
  issue->add_option("--days", io->days, "validity in days (default 825)")->check(CLI::Range(1, 3650));
  issue->add_option("--out", io->out, "output folder (default: <CA folder>/clients/NAME)");
  auto* pw = issue->add_option("--p12-password", io->p12_password,
                                "password of NAME.p12 (default: generated and printed once; visible in ps: prefer the file)");
  issue->add_option("--p12-password-file", io->p12_password_file, "read the password of NAME.p12 from FILE's first line (- : stdin)")
      ->excludes(pw);
  issue->add_flag("--force", io->force, "replace existing files");
  c.add(certs, "list", "list client certificates: serial, expiry, last use, revocation", [&ctx] { return certs_list(ctx); });
  auto name = std::make_shared<std::string>();
  c.add(certs, "revoke", "revoke a client certificate (transports close its connections)", [name, &ctx] {
     json r = ctx.connect()->request("cert.revoke", {{"name", *name}});
     if (!r.value("revoked", false)) {
       std::cerr << "no unrevoked client certificate named '" << *name << "'\n";
       return 1;
     }
     std::cout << "revoked " << *name << "\n";
     return 0;
   })->add_option("name", *name)->required();
}

}  // namespace ccmux::cli
