// Context::connect, Context::routed and Commands::run: where --host (or a MACHINE/ prefix of
// hosts.yaml) changes what a command talks to.
#include "address.h"
#include "commands.h"
#include "host_transport.h"

#include <iostream>

namespace ccmux::cli {

std::unique_ptr<client::Connection> Context::connect(bool watch_approvals) const {
  if (host) return connect_host(*host, watch_approvals, host->timeout_ms);
  return std::make_unique<client::Connection>(socket_path, watch_approvals);
}

Context Context::routed(std::string& id) const {
  Context c = *this;
  if (remote() || !split_machine_prefix(id)) return c;  // no hosts.yaml to read
  HostsFile hosts = load_hosts(default_hosts_path(), true);
  Resolved r = resolve_address(id, hosts, false);
  if (r.host.empty()) return c;
  c.host_name = r.host;
  c.host = *hosts.find(r.host);
  id = r.id;
  return c;
}

int Commands::run() const {
  if (ctx_.remote())
    for (auto& [sc, why] : local_only_)
      if (sc->parsed()) {
        std::cerr << "ccmux: `" << sc->get_name() << "` does not work with --host " << ctx_.host->name << ": " << why << "\n";
        return 1;
      }
  for (auto& [sc, action] : actions_)
    if (sc->parsed()) return action();
  return -1;
}

}  // namespace ccmux::cli
