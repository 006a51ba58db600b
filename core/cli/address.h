// `MACHINE/s-…` (a session) and `MACHINE/a-…` (an approval) on the CLI's direct path
// (docs/fleet.md, "Addressing"): when MACHINE is a host of hosts.yaml, the command connects to
// it directly and sends the id without the prefix; otherwise the id goes unchanged to the
// daemon the command talks to, whose fleet plugin routes it. Pure functions, unit-tested.
#pragma once

#include "hosts.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace ccmux::cli {

struct MachinePrefix {
  std::string machine;  // "build-box"
  std::string id;       // "s-1a2b3c4d"
};

// "build-box/s-1a2b3c4d" → {build-box, s-1a2b3c4d}; nullopt when `arg` has no such prefix
// (no '/', an empty side, or more than one '/').
std::optional<MachinePrefix> split_machine_prefix(const std::string& arg);

struct Resolved {
  std::string host;  // a hosts.yaml entry to connect to; "" = the daemon the command would ask anyway
  std::string id;    // what to send it
};

// `host_given`: the global --host picked a machine already; the id then goes there unchanged.
Resolved resolve_address(const std::string& arg, const HostsFile& hosts, bool host_given);

// An event message of a session reached directly as "MACHINE/s-…", as the fleet would have
// given it, for display: its `session` and, in approval events, the approval's `id` and
// `session` get "MACHINE/" (ids already prefixed, and fields that are not strings, are left).
// So what `attach` prints (`? approval b/a-… [b/s-…]`) can be typed back as it is.
nlohmann::json with_machine_prefix(const nlohmann::json& msg, const std::string& machine);

}  // namespace ccmux::cli
