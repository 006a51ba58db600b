// `ccmux certs init`: a local CA and a server certificate signed by it, for remote transports.
#include "certs.h"
#include "commands.h"
#include "paths.h"

#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace ccmux::cli {

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

}  // namespace

void add_cert_commands(Commands& c) {
  auto req = std::make_shared<CertRequest>();
  auto* certs = c.group("certs", "TLS certificates for remote transports");
  c.local_only(certs, "certificates are made on the machine that serves them; run it there");
  auto* init = c.add(certs, "init", "make a local CA and a server certificate signed by it (mbedTLS)",
                     [req] { return certs_init(*req); });
  init->add_option("--dir", req->dir, "output folder (default: tls/ beside the config file)");
  init->add_option("--host", req->dns_names, "DNS name for the certificate (repeatable; default: localhost and this host)");
  init->add_option("--ip", req->ips, "IP address for the certificate (repeatable; default: 127.0.0.1 and ::1)");
  init->add_flag("--force", req->force, "replace existing files");
}

}  // namespace ccmux::cli
