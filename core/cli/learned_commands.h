// CLI commands served by the approval plugin's protocol methods (autonomy, learned patterns).
#pragma once

#include <optional>
#include <string>

namespace ccmux::cli {

int autonomy_command(const std::string& socket_path, std::optional<int> level);
int learned_command(const std::string& socket_path, bool json_out);
int forget_command(const std::string& socket_path, const std::string& pattern);

}  // namespace ccmux::cli
