// `ccmux ls`: sessions as a table, one line each; with a HOST column for `ls --all-hosts`
// (each session then carries "host").
#pragma once

#include <nlohmann/json.hpp>

namespace ccmux::cli {

void print_sessions(const nlohmann::json& sessions, bool host_column = false);

}  // namespace ccmux::cli
