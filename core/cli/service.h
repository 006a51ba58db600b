// `ccmux service install|uninstall|status [--user|--system]`: ccmuxd as a systemd service.
#pragma once

#include "service_unit.h"

#include <CLI/CLI.hpp>

#include <string>

namespace ccmux::cli {

struct ServiceOptions {
  Scope scope = Scope::user;
  std::string root;  // --root DIR: files are written under DIR and systemctl is only printed
  std::string self;  // this ccmux: a unit written for it starts the ccmuxd beside it
};

// Enables the installed unit of this ccmux's prefix, or writes one for its sibling ccmuxd
// (~/.config/systemd/user or /etc/systemd/system), then daemon-reload and enable --now.
int service_install(const ServiceOptions& o);
// disable --now, and removes the unit only if `install` wrote it.
int service_uninstall(const ServiceOptions& o);
// Which unit is used, whether it is enabled and active: 0 only when both.
int service_status(const ServiceOptions& o);

// The `service` subcommand of ccmux; run() is -1 when the command line did not use it.
class ServiceCommand {
 public:
  explicit ServiceCommand(CLI::App& app);
  ServiceCommand(const ServiceCommand&) = delete;  // CLI11 holds pointers to the members
  ServiceCommand& operator=(const ServiceCommand&) = delete;
  int run();

 private:
  CLI::App* service_ = nullptr;
  CLI::App* install_ = nullptr;
  CLI::App* uninstall_ = nullptr;
  CLI::App* status_ = nullptr;
  bool user_ = false, system_ = false;
  std::string root_;
};

}  // namespace ccmux::cli
