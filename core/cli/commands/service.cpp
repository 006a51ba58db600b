// `ccmux service install|uninstall|status`: ServiceCommand (../service.h) registers and runs it.
#include "commands.h"
#include "service.h"

namespace ccmux::cli {

void add_service_commands(Commands& c) {
  auto service = std::make_shared<ServiceCommand>(c.app());
  // ServiceCommand knows which of its subcommands was chosen; -1 is never returned here.
  CLI::App* sc = c.app().get_subcommand("service");
  c.on(sc, [service] { return service->run(); });
  c.local_only(sc, "it installs or checks ccmuxd as a systemd service of this machine; run it on the other machine");
}

}  // namespace ccmux::cli
