// `ccmux ls`: sessions as a table, one line each; with a HOST column for `ls --all-hosts`
// (each session then carries "host"). `ls --fleet` ids carry their machine ("box/s-…") and
// sessions of a machine that is down ("reachable": false) show as unreachable.
#pragma once

#include <nlohmann/json.hpp>

namespace ccmux::cli {

void print_sessions(const nlohmann::json& sessions, bool host_column = false);

}  // namespace ccmux::cli
