// `ccmux doctor`: the checks live in ../doctor*.cpp.
#include "commands.h"
#include "doctor.h"

namespace ccmux::cli {

namespace {
struct Options {
  std::string config;
  bool json_out = false;
};
}  // namespace

void add_doctor_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto o = std::make_shared<Options>();
  auto* doctor = c.add(nullptr, "doctor",
                       "check claude, ccmuxd, config, plugins, certificates, tokens, hooks, "
                       "service, store and memory; each problem with its fix (exit 1 when there is one)",
                       [o, &ctx] { return doctor_command(o->config, ctx.socket_path, o->json_out); });
  c.local_only(doctor, "it checks this machine (claude, config, store, service); `ccmux --host NAME status` shows another's");
  doctor->add_option("--config", o->config, "config file (default: the one ccmuxd reads)");
  doctor->add_flag("--json", o->json_out, "print the findings as JSON");
}

}  // namespace ccmux::cli
