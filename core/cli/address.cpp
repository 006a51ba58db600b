#include "address.h"

namespace ccmux::cli {

std::optional<MachinePrefix> split_machine_prefix(const std::string& arg) {
  size_t slash = arg.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == arg.size()) return std::nullopt;
  if (arg.find('/', slash + 1) != std::string::npos) return std::nullopt;
  return MachinePrefix{arg.substr(0, slash), arg.substr(slash + 1)};
}

Resolved resolve_address(const std::string& arg, const HostsFile& hosts, bool host_given) {
  if (host_given) return {"", arg};
  auto p = split_machine_prefix(arg);
  if (!p || !hosts.find(p->machine)) return {"", arg};
  return {p->machine, p->id};
}

}  // namespace ccmux::cli
