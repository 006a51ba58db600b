// Context::connect and Commands::run: where --host changes what a command talks to.
#include "commands.h"
#include "host_transport.h"

#include <iostream>

namespace ccmux::cli {

std::unique_ptr<client::Connection> Context::connect(bool watch_approvals) const {
  if (host) return connect_host(*host, watch_approvals, host->timeout_ms);
  return std::make_unique<client::Connection>(socket_path, watch_approvals);
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
