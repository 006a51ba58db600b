// `ccmux ls --all-hosts`: the sessions of every machine of hosts.yaml and of the local ccmuxd
// (when one runs), asked in parallel, in one table with a HOST column.
#pragma once

#include <string>

namespace ccmux::cli {

// Machines that do not answer within `timeout_s` (or cannot be reached) are reported on
// stderr, one line each, while the others are listed. Returns 0 when at least one machine
// answered, 2 when none did. Throws ConfigError for a bad hosts file.
int list_all_hosts(const std::string& local_socket, const std::string& hosts_path, bool json_out, double timeout_s);

}  // namespace ccmux::cli
