// `ccmux ls --fleet`: the machines of the fleet (fleet.machines / fleet.sessions, docs/fleet.md),
// one line each, above the sessions table.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace ccmux::cli {

// One line per machine: name ("(here)" for this one), up|down|incompatible, live/max_live,
// available memory, sessions, pending approvals, version, and why it is not up (the
// machine's reason, or how long ago it was last heard from). `now_ms`: epoch ms.
std::string machines_table(const nlohmann::json& machines, int64_t now_ms);
// 5368709120 → "5.0G", 734003200 → "700M"; "-" for 0 or less (not reported).
std::string human_bytes(int64_t bytes);

}  // namespace ccmux::cli
